import '../../src/polyfill.js'
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { lpStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { pino } from 'pino'
import type { CordexLibp2p } from '../../src/node/libp2p.js'
import { connectedPair } from '../helpers/libp2pPair.js'
import {
  InferError,
  InferProtocol,
  InferRefusal,
  PeerGuard,
  type InferHandler,
  type InferOutcome,
  type InferRequest,
} from '../../src/protocols/index.js'
import { decodeFrame, encodeRequest } from '../../src/protocols/infer/codec.js'
import { GREEDY } from '../../src/engine/index.js'
import { silentLogger } from '../../src/util/logger.js'

// The infer stream's own bounds (defect: a silent `infer` stream never timed out, and held its
// buffers for minutes): two real libp2p nodes over TCP on loopback, in one process, the server
// with a PeerGuard on a clock that does not move (so no rate refills during a test).

const P = '/cordex/devnet/infer/1.0.0'
let client: CordexLibp2p
let server: CordexLibp2p

let stop: () => Promise<void>

before(async () => {
  ;({ client, server, stop } = await connectedPair())
})

after(async () => stop())

const request = (prompt = 'And God said,'): InferRequest => ({
  taskId: new Uint8Array(32).fill(1),
  model: 'm@0000000000000000',
  prompt,
  maxTokens: 4,
  tokenPrice: 1n,
  sampling: GREEDY,
  stop: [],
  open: new Uint8Array(0),
})

/** A handler that answers with one chunk and a done frame (the receipt is not checked here). */
const echo: InferHandler = async (req, ctx) => {
  await ctx.send({ tokens: [1], text: 'x' })
  return {
    receipt: {
      taskId: req.taskId,
      modelId: req.model,
      inputHash: ctx.inputHash,
      outputHash: new Uint8Array(32),
      promptTokens: 1,
      completionTokens: 1,
    },
    sig: new Uint8Array(64),
    finishReason: 'length',
  }
}

/** Serve `handler` with a guard, for the length of `body`. */
async function serving<T>(
  handler: InferHandler,
  limits: { requestsPerSecond?: number; maxStreamsPerPeer?: number },
  body: (ctx: { guard: PeerGuard; proto: InferProtocol; calls: () => number }) => Promise<T>,
): Promise<T> {
  const guard = new PeerGuard({ clock: { now: () => 1_000_000 } })
  let calls = 0
  const proto = new InferProtocol({ node: server, log: silentLogger(), guard }, 'devnet', {
    maxFrameBytes: 1 << 20,
    // Far beyond the test: only the request deadline can end a silent stream here.
    taskTimeoutMs: 600_000,
    maxInboundStreams: 64,
    maxRequestBytes: 8192,
    requestTimeoutMs: 300,
    ...limits,
  })
  await proto.register((req, ctx) => {
    calls++
    return handler(req, ctx)
  })
  try {
    return await body({ guard, proto, calls: () => calls })
  } finally {
    await proto.unregister()
  }
}

/** Read frames until the stream ends: the error frame's code, or 'reset' / 'closed'. */
async function outcome(stream: Stream): Promise<string> {
  const lp = lpStream(stream)
  try {
    for (;;) {
      const f = decodeFrame((await lp.read()).subarray(), 1 << 20)
      if (f.kind === 'error') return f.code
      if (f.kind === 'done') return 'done'
    }
  } catch {
    return 'reset'
  }
}

/** The gateway's side, on the client node. */
const gateway = (): InferProtocol =>
  new InferProtocol({ node: client, log: silentLogger() }, 'devnet', {
    maxFrameBytes: 1 << 20,
    taskTimeoutMs: 600_000,
    maxInboundStreams: 64,
  })

const runOnce = async (_server?: InferProtocol): Promise<InferOutcome> => {
  const g = gateway()
  try {
    return await g.run(server.peerId, request(), {
      onChunk: () => {},
      firstTokenTimeoutMs: 5000,
      timeoutMs: 10_000,
    })
  } finally {
    g.stop()
  }
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 20))
  assert.ok(ok(), `timed out waiting for ${what}`)
}

test(
  'a gateway has its next stream to an executor open before the task; a spare too old or dropped is replaced',
  { timeout: 60_000 },
  async () => {
    // The executor resets a stream with no request after 300 ms (serving's requestTimeoutMs).
    await serving(echo, {}, async ({ calls }) => {
      let broken = false
      let dials = 0
      let now = 0
      const node = {
        handle: client.handle.bind(client),
        unhandle: client.unhandle.bind(client),
        dialProtocol: ((...args: Parameters<CordexLibp2p['dialProtocol']>) => {
          dials++
          return broken ? Promise.reject(new Error('no new streams now')) : client.dialProtocol(...args)
        }) as CordexLibp2p['dialProtocol'],
      }
      // Its own request timeout (so the spares' age limit) is 600 ms of its clock, which stands still.
      const g = new InferProtocol({ node, log: silentLogger(), clock: { now: () => now } }, 'devnet', {
        maxFrameBytes: 1 << 20,
        taskTimeoutMs: 600_000,
        maxInboundStreams: 64,
        requestTimeoutMs: 600,
      })
      const run = (): Promise<InferOutcome> =>
        g.run(server.peerId, request(), { onChunk: () => {}, firstTokenTimeoutMs: 5000, timeoutMs: 10_000 })
      try {
        assert.equal((await run()).finishReason, 'length')
        await until('a spare stream', () => g.spareStreams === 1)
        assert.equal(dials, 2, 'one stream for the task, one opened for the next')

        // With a spare ready, a task needs no new stream: it goes through while none can be opened.
        broken = true
        assert.equal((await run()).finishReason, 'length')
        assert.equal(g.spareStreams, 0, 'the spare was used, and a new one could not be opened')
        broken = false

        // A spare older than half the request timeout is not used: the task opens a fresh stream.
        assert.equal((await run()).finishReason, 'length')
        await until('a spare stream', () => g.spareStreams === 1)
        now += 301
        const before = dials
        assert.equal((await run()).finishReason, 'length')
        assert.equal(dials, before + 2, 'a fresh stream for the task, and a new spare')

        // The executor resets a spare with no request at its request timeout; it is forgotten, and
        // the next task is served all the same.
        await until('a spare stream', () => g.spareStreams === 1)
        await until('the executor to drop the spare', () => g.spareStreams === 0)
        assert.equal((await run()).finishReason, 'length')
        assert.equal(calls(), 5, 'every task ran once')
      } finally {
        g.stop()
      }
    })
  },
)

test(
  'a spare the executor refused on arrival (its streams for us all busy) is replaced by a fresh stream',
  { timeout: 60_000 },
  async () => {
    let hold: (() => boolean) | undefined
    // Answers a chunk, then (while `hold` is set) keeps the stream until `hold` holds.
    const held: InferHandler = async (req, ctx) => {
      const done = await echo(req, ctx)
      if (hold !== undefined) await until('the next spare', hold)
      return done
    }
    await serving(held, { maxStreamsPerPeer: 2 }, async () => {
      const lines: string[] = []
      const log = pino({ level: 'debug' }, { write: (l: string) => void lines.push(l) })
      const g = new InferProtocol({ node: client, log }, 'devnet', {
        maxFrameBytes: 1 << 20,
        taskTimeoutMs: 600_000,
        maxInboundStreams: 64,
      })
      const run = (): Promise<InferOutcome> =>
        g.run(server.peerId, request(), { onChunk: () => {}, firstTokenTimeoutMs: 5000, timeoutMs: 10_000 })
      try {
        await run()
        await until('a spare stream', () => g.spareStreams === 1)
        // A silent stream takes the executor's other slot; the next task runs on the spare and,
        // until the spare after it is open (and refused BUSY: both slots are taken), holds its slot.
        const silent = await client.dialProtocol(server.peerId, P)
        hold = () => g.spareStreams === 1
        await run()
        hold = undefined
        // That refused spare is the next task's: the task is served on a fresh stream all the same
        // (once the silent stream is gone: the executor allows two).
        assert.equal(await outcome(silent), 'reset')
        assert.equal((await run()).finishReason, 'length')
        assert.ok(
          lines.some((l) => l.includes('spare infer stream lost') && l.includes('BUSY')),
          'the task met the refused spare first',
        )
      } finally {
        g.stop()
      }
    })
  },
)

test(
  'streams that never send a request, or send part of one, are reset at the request deadline',
  { timeout: 60_000 },
  async () => {
    await serving(echo, { maxStreamsPerPeer: 8 }, async ({ proto, calls }) => {
      const silent = await Promise.all([0, 1, 2].map(() => client.dialProtocol(server.peerId, P)))
      // A slow one: a length prefix of 1000 bytes and 10 of them, then nothing.
      const slow = await client.dialProtocol(server.peerId, P)
      slow.send(Uint8Array.of(0xe8, 0x07, ...new Uint8Array(10)))
      const ends = await Promise.all([...silent, slow].map(outcome))
      assert.deepEqual(ends, ['reset', 'reset', 'reset', 'reset'])
      assert.equal(calls(), 0, 'no handler ran')
      // Their slots were given back: a real request is served.
      assert.equal((await runOnce(proto)).finishReason, 'length')
    })
  },
)

test(
  'a peer over its share of streams gets BUSY, and over its rate RATE_LIMITED',
  { timeout: 60_000 },
  async () => {
    await serving(echo, { maxStreamsPerPeer: 2, requestsPerSecond: 2 }, async () => {
      const held = await Promise.all([0, 1].map(() => client.dialProtocol(server.peerId, P)))
      const third = await client.dialProtocol(server.peerId, P)
      assert.equal(await outcome(third), 'BUSY')
      await Promise.all(held.map(outcome)) // reset at the deadline
      // The burst is four requests (2/s, twice that at once): three are spent, one more gets in
      // (and, silent, is reset), the next is over the rate. Another peer's streams are not counted.
      const fourth = await client.dialProtocol(server.peerId, P)
      const fifth = await client.dialProtocol(server.peerId, P)
      assert.deepEqual(await Promise.all([outcome(fourth), outcome(fifth)]), ['reset', 'RATE_LIMITED'])
    })
  },
)

test(
  'an oversized or malformed request is refused with BAD_REQUEST and counts against its sender',
  { timeout: 60_000 },
  async () => {
    await serving(echo, {}, async ({ guard, calls }) => {
      const peer = client.peerId.toString()
      const big = lpStream(await client.dialProtocol(server.peerId, P))
      await big.write(encodeRequest(request('x'.repeat(9000))))
      assert.equal(await outcome(big.unwrap()), 'BAD_REQUEST')
      const after = guard.score(peer)
      assert.ok(after > 0, 'penalized')
      const junk = lpStream(await client.dialProtocol(server.peerId, P))
      await junk.write(new TextEncoder().encode('not a request'))
      assert.equal(await outcome(junk.unwrap()), 'BAD_REQUEST')
      assert.ok(guard.score(peer) > after)
      assert.equal(calls(), 0)
    })
  },
)

test(
  'a refusal that only a hostile gateway earns is penalized; an ordinary one is not',
  { timeout: 60_000 },
  async () => {
    let code = 'TASK_REPLAYED'
    const refuse: InferHandler = async () => {
      throw new InferRefusal(code, 'no', code === 'TASK_REPLAYED' ? { action: 'reject' } : {})
    }
    await serving(refuse, {}, async ({ guard, proto }) => {
      const peer = client.peerId.toString()
      await assert.rejects(
        runOnce(proto),
        (e: unknown) => e instanceof InferError && e.meta.remoteCode === 'TASK_REPLAYED',
      )
      const score = guard.score(peer)
      assert.ok(score > 0)
      code = 'ESCROW_TOO_LOW'
      await assert.rejects(
        runOnce(proto),
        (e: unknown) => e instanceof InferError && e.meta.remoteCode === 'ESCROW_TOO_LOW',
      )
      assert.equal(guard.score(peer), score)
    })
  },
)

test(
  'a gateway gives up on an executor that never answers, at its first-token deadline',
  { timeout: 60_000 },
  async () => {
    const mute: InferHandler = (_req, ctx) =>
      new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('gone'))))
    await serving(mute, {}, async () => {
      await assert.rejects(
        gateway().run(server.peerId, request(), {
          onChunk: () => {},
          firstTokenTimeoutMs: 300,
          timeoutMs: 600_000,
        }),
        (e: unknown) => e instanceof InferError && e.code === 'NO_FIRST_TOKEN' && e.meta.beforeFirstToken,
      )
    })
  },
)
