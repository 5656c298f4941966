import '../../src/polyfill.js'
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import type { CordexLibp2p } from '../../src/node/libp2p.js'
import { InfoProtocol, InferProtocol, ResponseCode, protocolId } from '../../src/protocols/index.js'
import { SyncProtocol, type BlockSource } from '../../src/protocols/sync/index.js'
import { decodeRequest, decodeFrame, encodeRequest, inputHash } from '../../src/protocols/infer/codec.js'
import { decode, read, encode, encodeBlock, encodeCommit, toHex } from '../../src/ledger/index.js'
import { silentLogger } from '../../src/util/logger.js'
import { generate } from './inputs.js'
import {
  startNodes,
  ready,
  behaviour,
  exchange,
  frames,
  type Nodes,
  type Behaviour,
  type Exchange,
} from './p2p.js'
import {
  budget,
  rngFor,
  Tally,
  MemoryWatch,
  MiB,
  report,
  assertClean,
  assertBounded,
  testTimeout,
  pool,
  hex,
} from './harness.js'
import { templates, CHAIN_ID, LIMITS, RECEIPT } from './templates.js'

// The request handlers of info, sync and infer over real libp2p streams, fed by a hostile peer:
// random and mutated requests, lying length prefixes, a byte at a time, silence. Properties: every
// stream is ended by the server (closed or reset; a silent sender only by the server's deadline);
// an invalid request is answered as invalid (never as a server error) and reaches no handler;
// an honest peer is still served afterwards; the heap stays bounded.

const T = templates()
const REQ = { maxFrameBytes: 64 * 1024, timeoutMs: 1000, maxInboundStreams: 32 }
/** How long a stream may stay open before it counts as never ended: many times the server's deadline. */
const CAP_MS = 10 * REQ.timeoutMs
const log = silentLogger()

let net: Nodes
let server: CordexLibp2p
let attacker: CordexLibp2p
let honest: CordexLibp2p
/** Input hashes of the infer requests the handler ran. */
const inferRan: string[] = []

const source: BlockSource = {
  headHeight: () => T.blocks.length,
  blockBytes: async (h) => (T.blocks[h - 1] === undefined ? undefined : encodeBlock(T.blocks[h - 1]!)),
  commitBytes: async (h) => (T.commits[h - 1] === undefined ? undefined : encodeCommit(T.commits[h - 1]!)),
}
const chain = { network: 'devnet', chainId: CHAIN_ID, registry: T.registry, limits: LIMITS }
const INFO = { network: 'devnet', version: '9.9.9', uptimeMs: 42 }
// Limits as a variable: the infer protocol's optional request deadline is set where it exists.
const inferLimits = {
  maxFrameBytes: REQ.maxFrameBytes,
  // The request limit the validity check below uses too (the default is what the longest prompt
  // of any model needs, 256 Ki characters: far over this suite's frames).
  maxRequestBytes: REQ.maxFrameBytes,
  taskTimeoutMs: 5000,
  maxInboundStreams: 32,
  requestTimeoutMs: REQ.timeoutMs,
}

/** The honest peer's clients. */
let clients: { info: InfoProtocol; sync: SyncProtocol; infer: InferProtocol }

before(async () => {
  net = await startNodes(3)
  ;[server, attacker, honest] = net.nodes as [CordexLibp2p, CordexLibp2p, CordexLibp2p]
  await ready(attacker, server)
  await ready(honest, server)
  await new InfoProtocol({ node: server, log, localInfo: () => INFO }, 'devnet', REQ).start()
  await new SyncProtocol({ node: server, log }, chain, REQ).start(source)
  await new InferProtocol({ node: server, log }, 'devnet', inferLimits).register(async (req, ctx) => {
    inferRan.push(toHex(ctx.inputHash))
    await ctx.send({ tokens: [1, 2], text: 'ab' })
    return { receipt: { ...RECEIPT, taskId: req.taskId }, sig: new Uint8Array(64), finishReason: 'stop' }
  })
  clients = {
    info: new InfoProtocol({ node: honest, log, localInfo: () => INFO }, 'devnet', REQ),
    sync: new SyncProtocol({ node: honest, log }, chain, REQ),
    infer: new InferProtocol({ node: honest, log }, 'devnet', inferLimits),
  }
})

after(async () => {
  await net.stop()
})

/** Why the server no longer serves an honest peer, or undefined. */
async function stillServes(): Promise<string | undefined> {
  try {
    const info = await clients.info.query(server.peerId)
    assert.deepEqual(info, INFO)
    const res = await clients.sync.fetch(server.peerId, 1, 3)
    assert.equal(res.blocks.length, 3)
    const out = await clients.infer.run(server.peerId, T.inferRequests[0]!, {
      onChunk: () => {},
      firstTokenTimeoutMs: 5000,
      timeoutMs: 10_000,
    })
    assert.equal(out.finishReason, 'stop')
    return undefined
  } catch (err) {
    return (err as Error).message.slice(0, 200)
  }
}

interface Target {
  name: 'info' | 'sync' | 'infer'
  protocol: () => string
  seeds: Uint8Array[]
  maxBytes: number
  /** Whether a request payload is one the handler must take (undefined: it takes any). */
  valid(payload: Uint8Array): boolean | undefined
  /** Why the server's answer to `b` is wrong, or undefined. */
  judge(b: Behaviour, x: Exchange): string | undefined
}

function judgeReqResp(
  validRequest: (p: Uint8Array) => boolean | undefined,
  checkOk: (body: Uint8Array) => string | undefined,
) {
  return (b: Behaviour, x: Exchange): string | undefined => {
    const { frames: got } = frames(x.received)
    if (got.length === 0) return undefined
    if (got.length > 1) return `answered ${got.length} frames`
    const f = got[0]!
    const code = f[0]
    const first = firstFrame(b.bytes)
    const valid = first === undefined ? false : validRequest(first)
    if (code === ResponseCode.SERVER_ERROR)
      return `answered SERVER_ERROR: ${new TextDecoder().decode(f.subarray(1, 120))}`
    if (code === ResponseCode.OK) {
      if (valid === false) return 'answered OK to an invalid request'
      return checkOk(f.subarray(1))
    }
    if (code === ResponseCode.INVALID_REQUEST)
      return valid === true ? 'answered INVALID_REQUEST to a valid request' : undefined
    return `answered with unknown code ${String(code)}`
  }
}

function validSync(p: Uint8Array): boolean {
  try {
    const [c, f, n] = read.array(decode(p, 128, 'sync request'), 3, 'sync request')
    read.uint(f, 'from')
    read.uint(n, 'count')
    return read.string(c, 64, 'chainId') === CHAIN_ID
  } catch {
    return false
  }
}

function validInfer(p: Uint8Array): boolean {
  try {
    decodeRequest(p, REQ.maxFrameBytes)
    return true
  } catch {
    return false
  }
}

const targets: Target[] = [
  {
    name: 'info',
    protocol: () => clients.info.protocol,
    seeds: [encode(null), encode([1, 2]), encode('info')],
    maxBytes: REQ.maxFrameBytes,
    valid: () => undefined,
    judge: judgeReqResp(
      () => undefined,
      (body) =>
        decodeOk(() => read.string((decode(body, 1024, 'info') as { version: unknown }).version, 64, 'v'))
          ? undefined
          : 'answered OK with a body that is not info',
    ),
  },
  {
    name: 'sync',
    protocol: () => protocolId('devnet', 'sync'),
    seeds: [
      encode([CHAIN_ID, 1, 64]),
      encode([CHAIN_ID, 0, 0]),
      encode([CHAIN_ID, 4, 2 ** 53 - 1]),
      encode(['other', 1, 1]),
    ],
    maxBytes: 128,
    valid: validSync,
    judge: judgeReqResp(validSync, (body) =>
      decodeOk(() => read.array(decode(body, REQ.maxFrameBytes, 'sync response'), 2, 'sync response'))
        ? undefined
        : 'answered OK with a body that is not a sync response',
    ),
  },
  {
    name: 'infer',
    protocol: () => clients.infer.protocol,
    seeds: T.inferRequests.map(encodeRequest),
    maxBytes: REQ.maxFrameBytes,
    valid: validInfer,
    judge: (b, x) => {
      const { frames: got } = frames(x.received)
      const first = firstFrame(b.bytes)
      const valid = first !== undefined && validInfer(first)
      for (const f of got) {
        let kind: string
        try {
          const fr = decodeFrame(f, REQ.maxFrameBytes)
          kind = fr.kind === 'error' ? `error ${fr.code}` : fr.kind
        } catch (err) {
          return `answered a frame that does not decode: ${(err as Error).message.slice(0, 80)}`
        }
        if (kind === 'error SERVER_ERROR') return 'answered SERVER_ERROR'
        if (!valid && (kind === 'chunk' || kind === 'done')) return `answered ${kind} to an invalid request`
      }
      return undefined
    },
  },
]

/** The first whole frame of what a sender sent: the request the server reads. */
function firstFrame(bytes: Uint8Array): Uint8Array | undefined {
  const f = frames(bytes).frames[0]
  return f !== undefined && f.length <= REQ.maxFrameBytes ? f : undefined
}

function decodeOk(f: () => unknown): boolean {
  try {
    f()
    return true
  } catch {
    return false
  }
}

for (const target of targets) {
  test(`fuzz protocol handler: ${target.name}`, { timeout: testTimeout() }, async (t) => {
    const rng = rngFor(`protocol/${target.name}`)
    const n = budget('protocol')
    const tally = new Tally(`protocol/${target.name}`)
    const protocol = target.protocol()
    const validHashes = new Set<string>()
    const ranBefore = inferRan.length
    const mem = new MemoryWatch()
    // Inputs are drawn one after another as workers take them: the same seed gives the same inputs,
    // whatever order the streams finish in, and no more than a few are held at once.
    function* inputs(): Generator<Behaviour> {
      for (let i = 0; i < n; i++)
        yield behaviour(rng, generate(rng, target.seeds, target.maxBytes, T.all), REQ.maxFrameBytes)
    }
    let down: string | undefined
    await pool(inputs(), 16, async (b) => {
      if (down !== undefined) return
      const first = firstFrame(b.bytes)
      if (first !== undefined && target.valid(first) === true) validHashes.add(toHex(inputHash(first)))
      const x = await exchange(attacker, server.peerId, protocol, b, CAP_MS)
      tally.inputs++
      tally.count(x.end)
      if (x.end === 'not ended')
        tally.fail(
          `stream not ended by the server within ${CAP_MS} ms (${b.what})`,
          b.bytes,
          'the server kept the stream open',
        )
      else if (x.end === 'not opened') tally.fail('stream refused', b.bytes, x.error ?? '')
      const why = target.judge(b, x)
      if (why !== undefined) tally.fail(`${why} (${b.what})`, b.bytes, `answer ${hex(x.received)}`)
      if (tally.inputs % 256 === 0) {
        mem.sample()
        down = await stillServes()
        if (down !== undefined) tally.fail('stopped serving an honest peer', b.bytes, down)
      }
    })
    down ??= await stillServes()
    if (down !== undefined) tally.fail('stopped serving an honest peer', new Uint8Array(0), down)
    // Only valid requests run the executor's handler.
    for (const h of inferRan.slice(ranBefore)) {
      if (
        target.name === 'infer' &&
        !validHashes.has(h) &&
        h !== toHex(inputHash(encodeRequest(T.inferRequests[0]!)))
      )
        tally.stateChange('the infer handler ran an invalid request', new Uint8Array(0), `input hash ${h}`)
    }
    const m = mem.finish()
    report(t, tally, m)
    assertClean(tally)
    assertBounded(tally.target, m.heapGrowth, 64 * MiB)
  })
}
