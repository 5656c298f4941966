import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { TestDaemon, waitForHosts } from '../helpers/daemon.js'
import { tempDir } from '../helpers/cli.js'
import { startDevnet, type RunningDevnet } from '../helpers/devnet.js'

// Two daemons: peer 0 is a gateway that hosts nothing, peer 1 hosts the model and serves at most
// one task of a gateway whose TaskOpen is not yet in a block (protocols.maxStreamsPerPeer 1, which
// also bounds its unconfirmed escrows per gateway). Requests in a row outrun the blocks: each
// finds the last one's TaskOpen still unconfirmed. The executor refuses it with UNCONFIRMED_LIMIT,
// and the gateway, instead of refunding and answering 503, asks again once its own TaskOpen is
// in a block (which the executor then admits whatever else is pending).

const REQUESTS = 10
const dir = tempDir()
const base = join(dir.path, 'net')
let devnet: RunningDevnet
let gateway: TestDaemon

before(async () => {
  const protocols = { maxStreamsPerPeer: 1 }
  for (const [i, extra] of [
    [0, { engine: { enabled: false }, genesis: { params: { minTxFee: '0' } } }],
    [1, {}],
  ] as const) {
    mkdirSync(join(base, `peer-${i}`), { recursive: true })
    writeFileSync(
      join(base, `peer-${i}`, 'config.json'),
      JSON.stringify({ network: 'devnet', protocols, ...extra }),
    )
  }
  devnet = await startDevnet(base, 2)
  gateway = new TestDaemon(join(base, 'peer-0'))
  await waitForHosts(gateway, 1)
})

after(async () => {
  await devnet?.stop()
  dir.cleanup()
})

test('a task refused only because the gateway’s escrows are unconfirmed runs once its TaskOpen is in a block, not refunded with a 503', async (t) => {
  for (let i = 0; i < REQUESTS; i++) {
    const r = await gateway.post<{ choices: Array<{ text: string }>; cordex: { task_id: string } }>(
      '/v1/completions',
      { model: 'kjv-small', prompt: `In the beginning ${i}`, max_tokens: 2, temperature: 0 },
    )
    assert.equal(r.status, 200, `request ${i}: ${JSON.stringify(r.body)}`)
    assert.ok(r.body.cordex.task_id.length > 0)
  }
  const waits = readFileSync(join(base, 'peer-0', 'daemon.log'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"msg":"the executor waits for the escrow to be in a block"')).length
  t.diagnostic(`${waits} of ${REQUESTS} requests waited for their TaskOpen's block`)
  assert.ok(waits > 0, 'the executor refused at least one task while its escrow was unconfirmed')
})
