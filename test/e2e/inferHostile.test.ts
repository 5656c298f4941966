import '../../src/polyfill.js'
import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { lpStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryDatastore } from 'datastore-core'
import { TestDaemon, type StatusJson } from '../helpers/daemon.js'
import { tempDir, waitFor, cordex } from '../helpers/cli.js'
import { startDevnet, type RunningDevnet } from '../helpers/devnet.js'
import { testSigner } from '../helpers/chainSim.js'
import { devnetConfig } from '../../bench/lib/nodes.js'
import { buildLibp2p, type CordexLibp2p } from '../../src/node/libp2p.js'
import { GREEDY } from '../../src/engine/index.js'
import {
  baseRegistry,
  signerFromSeed,
  signTx,
  taskIdOf,
  verifyReceipt,
  type Signer,
} from '../../src/ledger/index.js'
import { decodeFrame, encodeRequest, type InferFrame } from '../../src/protocols/infer/codec.js'

// Hostile peers against a real 2-daemon devnet: peer 0 is a gateway that hosts nothing, peer 1
// hosts the model. The attackers are libp2p nodes in this process that speak `infer` directly.
// Transactions cost no fee here; peer 1 cuts off a request that is not whole within 1 s.

const PROTOCOL = '/cordex/devnet/infer/1.0.0'
const dir = tempDir()
const base = join(dir.path, 'net')
let devnet: RunningDevnet
let gateway: TestDaemon
let host: StatusJson
let modelId: string
let chainId: string
const attackers: CordexLibp2p[] = []

/** A libp2p node with a fresh identity, connected to the host, and its ledger signer. */
async function attacker(): Promise<{ node: CordexLibp2p; signer: Signer }> {
  const privateKey = await generateKeyPair('Ed25519')
  const node = await buildLibp2p({ privateKey, datastore: new MemoryDatastore() }, devnetConfig())
  await node.start()
  attackers.push(node)
  await node.dial(multiaddr(host.addrs[0]!))
  const signer = signerFromSeed(privateKey.raw.subarray(0, 32))
  assert.equal(signer.peerId, node.peerId.toString())
  return { node, signer }
}

function taskOpen(signer: Signer, nonce: number, maxCost: bigint, model = modelId) {
  return signTx(baseRegistry(), chainId, signer, {
    type: 'TaskOpen',
    nonce,
    fee: 0n,
    body: { model, maxCost },
  })
}

/** Send one request for `open`'s task on a new stream; every frame of the answer. */
async function ask(
  node: CordexLibp2p,
  open: { from: string; nonce: number; bytes: Uint8Array },
  over: { maxTokens?: number; prompt?: string; model?: string } = {},
): Promise<InferFrame[]> {
  const lp = lpStream(await node.dialProtocol(multiaddr(host.addrs[0]!), PROTOCOL))
  await lp.write(
    encodeRequest({
      taskId: taskIdOf(open.from, open.nonce),
      model: over.model ?? modelId,
      prompt: over.prompt ?? 'And God said,',
      maxTokens: over.maxTokens ?? 5,
      // kjv-small's units per token at the devnet's genesis price.
      tokenPrice: 7499n,
      sampling: GREEDY,
      stop: [],
      open: open.bytes,
    }),
  )
  const frames: InferFrame[] = []
  for (;;) {
    const f = decodeFrame((await lp.read({ signal: AbortSignal.timeout(30_000) })).subarray(), 1 << 20)
    frames.push(f)
    if (f.kind !== 'chunk') return frames
  }
}

const last = (frames: InferFrame[]): InferFrame => frames[frames.length - 1]!
const codeOf = (frames: InferFrame[]): string => {
  const f = last(frames)
  return f.kind === 'error' ? f.code : f.kind
}

/** How a stream ends: its error frame's code, or 'reset'. */
async function ending(stream: Stream): Promise<string> {
  const lp = lpStream(stream)
  try {
    for (;;) {
      const f = decodeFrame((await lp.read()).subarray(), 1 << 20)
      if (f.kind !== 'chunk') return f.kind === 'error' ? f.code : f.kind
    }
  } catch {
    return 'reset'
  }
}

/** A paid task through the gateway's CLI, as a user runs one. */
async function paidTask(): Promise<{ executor: string; text: string }> {
  const r = await cordex([
    'prompt',
    'And God said,',
    '--max-tokens',
    '5',
    '--json',
    '--data-dir',
    gateway.dataDir,
  ])
  assert.equal(r.code, 0, r.stderr)
  return JSON.parse(r.stdout) as { executor: string; text: string }
}

/** POST a JSON body on the gateway's control socket. */
function post(path: string, body: unknown): Promise<{ status: number; body: { error?: { code: string } } }> {
  const data = JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath: gateway.socket, path, method: 'POST', headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = ''
        res.on('data', (d: Buffer) => (text += d.toString()))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as never }))
      },
    )
    req.on('error', reject)
    req.end(data)
  })
}

before(async () => {
  for (const [i, config] of [
    { network: 'devnet', engine: { enabled: false }, genesis: { params: { minTxFee: '0' } } },
    { network: 'devnet', protocols: { requestTimeoutMs: 1000, maxStreamsPerPeer: 4 } },
  ].entries()) {
    mkdirSync(join(base, `peer-${i}`), { recursive: true })
    writeFileSync(join(base, `peer-${i}`, 'config.json'), JSON.stringify(config))
  }
  devnet = await startDevnet(base, 2, ['--api'])
  host = devnet.peers[1]!
  gateway = new TestDaemon(join(base, 'peer-0'))
  chainId = (
    JSON.parse(readFileSync(join(base, 'peer-0', 'config.json'), 'utf8')) as { genesis: { chainId: string } }
  ).genesis.chainId
  const models = await waitFor(
    'the host announces the model',
    async () => {
      const m = (
        await gateway.get<{ data: Array<{ cordex: { model_id: string; hosts: number } }> }>('/v1/models')
      ).body.data[0]
      return m !== undefined && m.cordex.hosts === 1 ? m : undefined
    },
    60_000,
  )
  modelId = models.cordex.model_id
})

after(async () => {
  await Promise.all(attackers.map((n) => Promise.resolve(n.stop()).catch(() => {})))
  await devnet?.stop()
  dir.cleanup()
})

test('an unpaid request (fresh identity, no balance, no TaskOpen on the ledger) gets TASK_NOT_OPEN and no receipt', async () => {
  const { node, signer } = await attacker()
  const answers = []
  // Its own signed TaskOpens, which its empty balance cannot pay, and one with no TaskOpen at all.
  for (let nonce = 0; nonce < 6; nonce++) answers.push(await ask(node, taskOpen(signer, nonce, 1_000_000n)))
  answers.push(await ask(node, { from: signer.peerId, nonce: 9, bytes: new Uint8Array(0) }))
  for (const frames of answers) {
    assert.equal(codeOf(frames), 'TASK_NOT_OPEN')
    assert.ok(!frames.some((f) => f.kind === 'chunk' || f.kind === 'done'), 'no tokens, no receipt')
  }
})

test('a paying client is served once per task; a replay, a TaskOpen of another client, another model or too small an escrow is refused', async () => {
  const { node, signer } = await attacker()
  const t = await cordex([
    'tx',
    'transfer',
    '--to',
    signer.peerId,
    '--amount',
    '100000000',
    '--json',
    '--data-dir',
    gateway.dataDir,
  ])
  assert.equal(t.code, 0, t.stderr)
  await waitFor('the funds on the host', async () => {
    const a = await new TestDaemon(join(base, 'peer-1')).get<{ balance: string }>(
      `/accounts/${signer.peerId}`,
    )
    return BigInt(a.body.balance) > 0n ? true : undefined
  })
  // Sent straight to the host: it admits the TaskOpen itself, without waiting for gossip.
  const open = taskOpen(signer, 0, 10_000_000n)
  const served = await ask(node, open)
  const done = last(served)
  assert.equal(done.kind, 'done', JSON.stringify(done))
  assert.ok(done.kind === 'done' && verifyReceipt(chainId, host.peerId, done.receipt, done.sig))
  assert.equal(codeOf(await ask(node, open)), 'TASK_REPLAYED')

  // Someone else's TaskOpen, or one for another model, or too small an escrow.
  assert.equal(codeOf(await ask(node, taskOpen(testSigner(3), 0, 10_000_000n))), 'WRONG_CLIENT')
  assert.equal(
    codeOf(await ask(node, taskOpen(signer, 1, 10_000_000n, 'other@0000000000000000'))),
    'WRONG_MODEL',
  )
  assert.equal(codeOf(await ask(node, taskOpen(signer, 1, 10_000n))), 'ESCROW_TOO_LOW')
})

test('silent, slow and oversized infer streams are cut off, and the host keeps serving paid tasks', async () => {
  const { node, signer } = await attacker()
  const dial = () => node.dialProtocol(multiaddr(host.addrs[0]!), PROTOCOL)
  // Four silent streams take the peer's share; more are refused at once with BUSY.
  const silent = await Promise.all([0, 1, 2, 3].map(dial))
  const extra = await Promise.all([0, 1].map(dial))
  assert.deepEqual(await Promise.all(extra.map(ending)), ['BUSY', 'BUSY'])
  // The silent ones never send a byte: they are reset at the request deadline, not left open.
  assert.deepEqual(await Promise.all(silent.map(ending)), ['reset', 'reset', 'reset', 'reset'])

  // A slow one announces a 4 MiB frame: over the request limit, refused before it is read.
  const slow = await dial()
  slow.send(Uint8Array.of(0x80, 0x80, 0x80, 0x02, 1, 2, 3))
  assert.equal(await ending(slow), 'BAD_REQUEST')
  // A request with a 256 Ki-character prompt cannot be a request for this model at all.
  const huge = await ask(node, taskOpen(signer, 0, 1n), { prompt: '中'.repeat(262_144) }).catch(() => [])
  assert.ok(huge.length === 0 || codeOf(huge) === 'BAD_REQUEST', JSON.stringify(huge))

  // Meanwhile and after, users' tasks run.
  const r = await paidTask()
  assert.equal(r.executor, host.peerId)
})

test('a prompt that cannot fit the context is refused before it is tokenized, and the gateway stays responsive', async () => {
  const prompt = '中'.repeat(262_144)
  const answers = await Promise.all(
    Array.from({ length: 12 }, () => post('/v1/completions', { model: 'kjv-small', prompt, max_tokens: 4 })),
  )
  for (const a of answers) {
    assert.equal(a.status, 400)
    assert.equal(a.body.error?.code, 'context_length_exceeded')
  }
  const chat = await post('/v1/chat/completions', {
    model: 'kjv-small',
    messages: Array.from({ length: 200 }, () => ({ role: 'user', content: '中'.repeat(1000) })),
  })
  assert.equal(chat.body.error?.code, 'context_length_exceeded')
  assert.equal((await gateway.get<{ peerId: string }>('/status')).status, 200)
  await paidTask()
})
