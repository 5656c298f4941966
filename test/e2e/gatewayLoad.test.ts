import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { TestDaemon, type StatusJson, balanceOn, settledBalanceOn, waitForHosts } from '../helpers/daemon.js'
import { tempDir, waitFor } from '../helpers/cli.js'
import { startDevnet, type RunningDevnet } from '../helpers/devnet.js'

// A devnet of 4 daemons: peer 0 is the gateway and hosts nothing, peers 1-3 host the model.
// Transactions cost no fee, so the gateway's balance moves only by task fees. More streamed
// requests arrive at once than the mempools admit pending transactions from one sender (the nonce
// window is 64; each task takes two) and than the control socket takes connections (128).

const REQUESTS = 150

/** What one request came to, as its client saw it. */
type Outcome =
  | { kind: 'answer'; taskId: string; cost: bigint; text: string }
  | { kind: 'busy'; status: number; code: string }
  | { kind: 'bad'; what: string }

const dir = tempDir()
const base = join(dir.path, 'net')
let devnet: RunningDevnet
let gateway: TestDaemon
let peers: StatusJson[]

const balance = (): Promise<bigint> => balanceOn(gateway, peers[0]!.peerId)
const settledBalance = (): Promise<bigint> => settledBalanceOn(gateway, peers[0]!.peerId)

/** One streamed completion over the Unix socket, on a connection of its own. */
function streamed(i: number): Promise<Outcome> {
  const body = JSON.stringify({
    model: 'kjv-small',
    prompt: `And the LORD said unto Moses, ${i}`,
    max_tokens: 3,
    temperature: 0,
    stream: true,
  })
  return new Promise((resolve) => {
    const req = http.request(
      {
        socketPath: gateway.socket,
        path: '/v1/completions',
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: 120_000,
      },
      (res) => {
        let data = ''
        res.on('data', (d: Buffer) => (data += d.toString()))
        res.on('error', (err) => resolve({ kind: 'bad', what: `response: ${err.message}` }))
        res.on('end', () => resolve(classify(res, data)))
      },
    )
    req.on('error', (err) => resolve({ kind: 'bad', what: `request: ${err.message}` }))
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.end(body)
  })
}

function classify(res: http.IncomingMessage, data: string): Outcome {
  const status = res.statusCode ?? 0
  if (status !== 200) {
    let code: string | undefined
    try {
      code = (JSON.parse(data) as { error?: { code?: string } }).error?.code
    } catch {
      return { kind: 'bad', what: `${status} with a body that is not JSON: ${data.slice(0, 600)}` }
    }
    if (status === 503 && res.headers['retry-after'] !== undefined && code !== undefined)
      return { kind: 'busy', status, code }
    return {
      kind: 'bad',
      what: `${status} ${code ?? ''} retry-after=${String(res.headers['retry-after'])}: ${data.slice(0, 600)}`,
    }
  }
  const events = data
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice(6))
  if (events.at(-1) !== '[DONE]')
    return { kind: 'bad', what: `a stream that did not finish: ${data.slice(-300)}` }
  const parsed = events.slice(0, -1).map((e) => JSON.parse(e) as Record<string, unknown>)
  const error = parsed.find((e) => e.error !== undefined)
  if (error !== undefined)
    return { kind: 'bad', what: `an error inside a 200 stream: ${JSON.stringify(error)}` }
  const last = parsed.at(-1) as { cordex?: { task_id: string; cost: string } } | undefined
  if (last?.cordex === undefined) return { kind: 'bad', what: 'a stream without its cordex summary' }
  const text = parsed.map((e) => (e as { choices: Array<{ text: string }> }).choices[0]?.text ?? '').join('')
  return { kind: 'answer', taskId: last.cordex.task_id, cost: BigInt(last.cordex.cost), text }
}

before(async () => {
  mkdirSync(join(base, 'peer-0'), { recursive: true })
  writeFileSync(
    join(base, 'peer-0', 'config.json'),
    JSON.stringify({ network: 'devnet', engine: { enabled: false }, genesis: { params: { minTxFee: '0' } } }),
  )
  devnet = await startDevnet(base, 4)
  peers = devnet.peers
  gateway = new TestDaemon(join(base, 'peer-0'))
  await waitForHosts(gateway, 3)
})

after(async () => {
  await devnet?.stop()
  dir.cleanup()
})

test(`${REQUESTS} concurrent streamed requests: each is a whole answer or a JSON 503 with Retry-After, and every escrow is settled or refunded`, async (t) => {
  const start = await settledBalance()
  const outcomes = await Promise.all(Array.from({ length: REQUESTS }, (_, i) => streamed(i)))

  const bad = outcomes.filter((o) => o.kind === 'bad').map((o) => o.what)
  assert.deepEqual(bad, [], 'no reset, no refusal inside a stream, no other error')
  const answers = outcomes.filter((o) => o.kind === 'answer')
  t.diagnostic(`${answers.length} answered, ${REQUESTS - answers.length} told to retry`)
  // More tasks than the mempools' nonce window holds pending at once: the gateway queued their
  // escrows and receipts behind one another instead of refusing them.
  assert.ok(answers.length > 64, `${answers.length} answered, ${REQUESTS - answers.length} told to retry`)
  assert.equal(new Set(answers.map((a) => a.taskId)).size, answers.length, 'one task per answer')
  assert.ok(answers.every((a) => a.text.length > 0 && a.cost > 0n))

  // Every receipt and every refund reaches a block: the gateway paid exactly the answered tasks'
  // fees, so no escrow stays locked in a task that is still open.
  const spent = answers.reduce((sum, a) => sum + a.cost, 0n)
  await waitFor(
    'every task settled',
    async () => ((await balance()) === start - spent ? true : undefined),
    60_000,
  ).catch(async () => assert.equal(await balance(), start - spent))
  assert.equal(await settledBalance(), start - spent)
})
