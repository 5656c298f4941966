import '../../src/polyfill.js'
import { test, before, after } from 'node:test'
import type { Stream } from '@libp2p/interface'
import type { CordexLibp2p } from '../../src/node/libp2p.js'
import { InfoProtocol, InferProtocol, ResponseCode, protocolId } from '../../src/protocols/index.js'
import { SyncProtocol } from '../../src/protocols/sync/index.js'
import { encode, encodeBlock, encodeCommit } from '../../src/ledger/index.js'
import { silentLogger } from '../../src/util/logger.js'
import { type Rng, varint, concat, randomBytes } from './gen.js'
import { generate } from './inputs.js'
import { startNodes, ready, write, frame, frames, type Nodes } from './p2p.js'
import {
  budget,
  rngFor,
  isTyped,
  errorKind,
  Tally,
  MemoryWatch,
  MiB,
  report,
  assertClean,
  assertBounded,
  testTimeout,
  pool,
  sleep,
} from './harness.js'
import { templates, CHAIN_ID, LIMITS } from './templates.js'

// The client side of info, sync and infer against a hostile server: answers that are random,
// mutated, oversized, cut short, a byte at a time, or never come. Properties: every call settles
// (the client's own deadline ends a silent server), a failure is a typed error (ProtocolError,
// CodecError, TxRejectedError, InferError), nothing escapes as an unhandled rejection, and the
// heap stays bounded.

const T = templates()
const REQ = { maxFrameBytes: 64 * 1024, timeoutMs: 500, maxInboundStreams: 64 }
const CAP_MS = 10 * REQ.timeoutMs
const log = silentLogger()

let net: Nodes
let hostile: CordexLibp2p
let honest: CordexLibp2p
const unhandled: unknown[] = []
const onUnhandled = (err: unknown): void => {
  unhandled.push(err)
}

before(async () => {
  net = await startNodes(2)
  ;[hostile, honest] = net.nodes as [CordexLibp2p, CordexLibp2p]
  process.on('unhandledRejection', onUnhandled)
})

/** A connection from the honest node to the hostile one that carries streams (`fresh`: a new one). */
function connect(fresh = false): Promise<void> {
  return ready(honest, hostile, fresh)
}

after(async () => {
  process.off('unhandledRejection', onUnhandled)
  await net.stop()
})

/** What the hostile server does with one stream. */
interface Answer {
  what: string
  bytes: Uint8Array
  /** Read the client's request before answering. */
  readFirst: boolean
  end: 'close' | 'reset' | 'stall'
  /** Milliseconds between bytes (a byte at a time), or 0. */
  gapMs: number
}

function answer(rng: Rng, body: () => Uint8Array, maxFrame: number): Answer {
  const r = rng.int(100)
  const base = { readFirst: rng.chance(0.9), end: 'close' as const, gapMs: 0 }
  if (r < 60) return { ...base, what: 'answer frames', bytes: body() }
  if (r < 68) return { ...base, what: 'raw bytes', bytes: randomBytes(rng, 2048) }
  if (r < 74) {
    const prefix = rng.pick([
      varint(maxFrame + 1),
      varint(2 ** 40),
      varint(2n ** 64n - 1n),
      new Uint8Array(12).fill(0xff),
    ])
    return { ...base, what: 'an oversized length prefix', bytes: concat(prefix, randomBytes(rng, 64)) }
  }
  if (r < 80) {
    const b = body()
    return { ...base, what: 'a frame cut short', bytes: b.subarray(0, rng.int(b.length)) }
  }
  if (r < 84) return { ...base, what: 'nothing, then close', bytes: new Uint8Array(0) }
  if (r < 88) return { ...base, what: 'a reset', bytes: body().subarray(0, rng.int(8)), end: 'reset' }
  if (r < 95)
    return { ...base, what: 'a byte at a time', bytes: body().subarray(0, 300), gapMs: rng.pick([1, 10]) }
  if (r < 98) return { ...base, what: 'silence', bytes: new Uint8Array(0), end: 'stall' }
  const b = body()
  return {
    ...base,
    what: 'part of an answer, then silence',
    bytes: b.subarray(0, rng.int(b.length)),
    end: 'stall',
  }
}

/** The client's request frame, read whole (or whatever came within two seconds). */
async function readRequest(stream: Stream): Promise<Uint8Array | undefined> {
  const chunks: Uint8Array[] = []
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      stream.removeEventListener('message', onMessage)
      resolve(frames(concat(...chunks)).frames[0])
    }
    const onMessage = (e: { data: { subarray(): Uint8Array } }): void => {
      chunks.push(e.data.subarray())
      if (frames(concat(...chunks)).frames.length > 0) done()
    }
    const timer = setTimeout(done, 2000)
    stream.addEventListener('message', onMessage)
  })
}

async function act(stream: Stream, a: Answer, readFirst = false): Promise<void> {
  try {
    if (readFirst) await readRequest(stream)
    if (a.gapMs > 0) {
      for (let i = 0; i < a.bytes.length; i++) {
        if (!(await write(stream, a.bytes.subarray(i, i + 1)))) return
        await sleep(a.gapMs)
      }
    } else if (a.bytes.length > 0 && !(await write(stream, a.bytes))) return
    if (a.end === 'close') await stream.close({ signal: AbortSignal.timeout(5000) })
    else if (a.end === 'reset') stream.abort(new Error('fuzz: hostile reset'))
    // 'stall': leave it open; the client's deadline must end it.
  } catch {
    // The client went away first.
  }
}

interface Target {
  name: 'info' | 'sync' | 'infer'
  protocol: string
  /** One answer body (length-prefixed frames) from mutated valid answers. */
  body(rng: Rng): Uint8Array
  /** Call the client over `node`. */
  call(node: Dialer): Promise<unknown>
}

type Dialer = Pick<CordexLibp2p, 'handle' | 'unhandle' | 'dialProtocol'>

const reqresp = (code: number, body: Uint8Array): Uint8Array => frame(concat(Uint8Array.of(code), body))

function codeOf(rng: Rng): number {
  return rng.chance(0.85)
    ? ResponseCode.OK
    : rng.pick([ResponseCode.INVALID_REQUEST, ResponseCode.SERVER_ERROR, 3, 255])
}

const syncSeeds = [1, 3, 6].map((n) =>
  encode([6, T.blocks.slice(0, n).map((b, i) => [encodeBlock(b), encodeCommit(T.commits[i]!)])]),
)

const targets: Target[] = [
  {
    name: 'info',
    protocol: protocolId('devnet', 'info'),
    body: (rng) => reqresp(codeOf(rng), generate(rng, T.info, 1024, T.all)),
    call: (node) =>
      new InfoProtocol(
        { node, log, localInfo: () => ({ network: 'devnet', version: '0', uptimeMs: 0 }) },
        'devnet',
        REQ,
      ).query(hostile.peerId),
  },
  {
    name: 'sync',
    protocol: protocolId('devnet', 'sync'),
    body: (rng) => reqresp(codeOf(rng), generate(rng, syncSeeds, REQ.maxFrameBytes, T.all)),
    call: (node) =>
      new SyncProtocol(
        { node, log },
        { network: 'devnet', chainId: CHAIN_ID, registry: T.registry, limits: LIMITS },
        REQ,
      ).fetch(hostile.peerId, 1, 64),
  },
  {
    name: 'infer',
    protocol: protocolId('devnet', 'infer'),
    body: (rng) =>
      concat(
        ...Array.from({ length: rng.range(1, 5) }, () =>
          frame(generate(rng, T.inferFrames, REQ.maxFrameBytes, T.all)),
        ),
      ),
    call: (node) =>
      new InferProtocol({ node, log }, 'devnet', {
        maxFrameBytes: REQ.maxFrameBytes,
        taskTimeoutMs: 5000,
        maxInboundStreams: 8,
      }).run(hostile.peerId, T.inferRequests[0]!, {
        onChunk: () => {},
        firstTokenTimeoutMs: 500,
        timeoutMs: 1500,
      }),
  },
]

for (const target of targets) {
  test(
    `fuzz protocol client: ${target.name} against a hostile server`,
    { timeout: testTimeout() },
    async (t) => {
      const n = budget('protocol')
      const tally = new Tally(`client/${target.name}`)
      // Answer i comes from its own generator, so it is the same whenever it is asked for. Streams
      // take answers in the order they arrive; the stream id (the same at both ends of the one
      // connection) tells which answer a call got, so each failure is reported with its own.
      const answerOf = (i: number): Answer => {
        const r = rngFor(`client/${target.name}/${i}`)
        return answer(r, () => target.body(r), REQ.maxFrameBytes)
      }
      let next = 0
      const answered = new Map<string, Answer>()
      await hostile.handle(
        target.protocol,
        (stream: Stream) => {
          const a = answerOf(next++)
          answered.set(stream.id, a)
          void act(stream, a, a.readFirst)
        },
        { maxInboundStreams: REQ.maxInboundStreams },
      )
      await connect()
      let closes = 0
      const onClose = (): void => void closes++
      honest.addEventListener('connection:close', onClose)
      let reached = 0
      let dialError = ''
      const unhandledBefore = unhandled.length
      const mem = new MemoryWatch()
      try {
        await pool(
          Array.from({ length: n }, (_, i) => i),
          16,
          async (i) => {
            // The client's own dial, seen: the stream it opened names the answer it got.
            const opened: string[] = []
            const node: Dialer = {
              handle: honest.handle.bind(honest),
              unhandle: honest.unhandle.bind(honest),
              dialProtocol: (async (...args: Parameters<CordexLibp2p['dialProtocol']>) => {
                // Opening the stream is not under test: a failed opening is tried again.
                for (let attempt = 0; ; attempt++) {
                  try {
                    const s = await honest.dialProtocol(...args)
                    opened.push(s.id)
                    return s
                  } catch (err) {
                    if (attempt >= 3) throw err
                    tally.count('stream opening retried')
                    await sleep(50)
                  }
                }
              }) as CordexLibp2p['dialProtocol'],
            }
            let timer: NodeJS.Timeout | undefined
            const cap = new Promise<'not settled'>(
              (r) => (timer = setTimeout(() => r('not settled'), CAP_MS)),
            )
            const outcome = await Promise.race([
              target.call(node).then(
                () => 'ok' as const,
                (err: unknown) => err,
              ),
              cap,
            ])
            clearTimeout(timer)
            tally.inputs++
            const a = opened.length > 0 ? answered.get(opened[0]!) : undefined
            const input = a?.bytes ?? new Uint8Array(0)
            if (opened.length > 0 && a === undefined) tally.count('answer not identified')
            // A connection that died under the fuzz (libp2p then keeps handing it out): a fresh one.
            if (
              opened.length === 0 &&
              !honest.getConnections(hostile.peerId).some((c) => c.status === 'open')
            ) {
              tally.count('reconnected')
              await connect(true)
            }
            if (opened.length > 0) reached++
            else if (dialError === '') dialError = (outcome as Error)?.message ?? String(outcome)
            const what =
              a === undefined
                ? 'no stream opened'
                : `${a.what}${a.readFirst ? '' : ' (before the request)'}, then ${a.end}`
            if (outcome === 'ok') tally.count('answer accepted')
            else if (outcome === 'not settled')
              tally.fail(`call not settled within ${CAP_MS} ms`, input, what)
            else if (isTyped(outcome)) tally.count(errorKind(outcome))
            else
              tally.fail(
                `client throws ${errorKind(outcome)}`,
                input,
                `${what}: ${(outcome as Error)?.message?.slice(0, 160)}`,
              )
            if ((i & 63) === 0) mem.sample()
          },
        )
      } finally {
        honest.removeEventListener('connection:close', onClose)
        await hostile.unhandle(target.protocol)
      }
      if (closes > 0) tally.count('connection closes', closes)
      for (const err of unhandled.slice(unhandledBefore))
        tally.fail(
          `unhandled rejection ${errorKind(err)}`,
          String((err as Error)?.message ?? err),
          String((err as Error)?.stack ?? '').slice(0, 300),
        )
      // A run whose calls never reached the hostile server tested nothing.
      if (reached < tally.inputs / 2)
        tally.fail(
          'calls did not reach the hostile server',
          new Uint8Array(0),
          `${reached} of ${tally.inputs}: ${dialError}`,
        )
      const m = mem.finish()
      report(t, tally, m)
      assertClean(tally)
      assertBounded(tally.target, m.heapGrowth, 64 * MiB)
    },
  )
}
