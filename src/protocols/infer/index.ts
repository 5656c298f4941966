import { lpStream } from '@libp2p/utils'
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'
import type { Logger } from '../../util/logger.js'
import { CordexError } from '../../util/errors.js'
import { deadline } from '../../util/deadline.js'
import { protocolId } from '../ids.js'
import { DEFAULT_PEER_LIMITS, PENALTY, type PeerGuard } from '../guard.js'
import type { PeerAction } from '../errors.js'
import type { Receipt } from '../../ledger/task/receipt.js'
import { ChunkWriter } from './chunkWriter.js'
import { SpareStreams } from './spares.js'
import { systemClock, type Clock } from '../../util/clock.js'
import { traceStage } from '../../util/stageTrace.js'
import { CodecError } from '../../ledger/errors.js'
import {
  decodeFrame,
  decodeRequest,
  encodeFrame,
  encodeRequest,
  inputHash,
  maxRequestBytes,
  type InferRequest,
  type TaskFinish,
} from './codec.js'

export {
  encodeRequest,
  decodeRequest,
  encodeFrame,
  decodeFrame,
  inputHash,
  maxRequestBytes,
  MAX_PROMPT_CHARS,
  MAX_TASK_OPEN_BYTES,
  REQUEST_VERSION,
} from './codec.js'
export type { InferRequest, InferFrame, TaskFinish } from './codec.js'
export { tokenLimit, taskFinish, withinBudget, type TokenLimit } from './budget.js'

export type InferErrorCode =
  | 'DIAL_FAILED'
  /** No first token before the deadline: the gateway may try the next executor. */
  | 'NO_FIRST_TOKEN'
  /** The stream broke or timed out after tokens had arrived. */
  | 'STREAM_FAILED'
  /** The executor refused or failed; `meta.remoteCode` says why. */
  | 'REMOTE_ERROR'
  | 'MALFORMED'
  | 'CANCELLED'

export class InferError extends CordexError<
  InferErrorCode,
  { peer?: string; remoteCode?: string; beforeFirstToken: boolean }
> {}

/**
 * An executor-side refusal with a code the gateway sees (UNKNOWN_MODEL, BUSY, TASK_NOT_OPEN...).
 * `meta.action` says what to do with the sender: an honest gateway never earns 'reject'.
 */
export class InferRefusal extends CordexError<string, { action?: PeerAction }> {}

export interface InferLimits {
  /** Largest response frame (chunk, done, error), bytes. */
  maxFrameBytes: number
  /** Executor side: the longest a task may stream, ms. */
  taskTimeoutMs: number
  /** Concurrent inbound streams per connection (libp2p's own cap). */
  maxInboundStreams: number
  /** Executor side: largest request frame, bytes. Default `maxRequestBytes()`, what the longest prompt needs. */
  maxRequestBytes?: number
  /** Executor side: deadline for the request frame to arrive whole, from the stream's opening, ms. Default 5000. */
  requestTimeoutMs?: number
  /** Executor side: concurrent inbound infer streams one peer may hold (with a guard). Default 8. */
  maxStreamsPerPeer?: number
  /** Executor side: infer requests per second one peer may open, bursts of twice as many (with a guard). Default 5. */
  requestsPerSecond?: number
}

const DEFAULT_REQUESTS_PER_SECOND = 5
/** Executors a gateway keeps a spare infer stream to, at most. */
const MAX_SPARE_PEERS = 32

/** The refusals an executor makes of a stream before reading its request (InferProtocol.serve). */
const ARRIVAL_REFUSALS = new Set(['BUSY', 'RATE_LIMITED'])

/** A spare stream that broke or was refused before the executor read a request on it (InferProtocol.run retries). */
class SpareLost extends Error {
  constructor(override readonly cause: Error) {
    super(cause.message)
  }
}
/** How long a refusal frame may take to go out before the stream is reset instead. */
const REFUSAL_WRITE_MS = 1000

/** The executor's side of one task: stream chunks with `send`, then return the signed receipt. */
export type InferHandler = (
  req: InferRequest,
  ctx: {
    from: PeerId
    inputHash: Uint8Array
    /** The request frame exactly as it arrived: what `inputHash` hashes, kept for verifiers. */
    requestBytes: Uint8Array
    signal: AbortSignal
    /**
     * Queue a chunk: call it for each chunk as it comes, without waiting. Chunks go out in order;
     * those queued behind a write in flight go out together (ChunkWriter). Resolves when the chunk
     * is written; rejects when the stream broke.
     */
    send: (chunk: { tokens: number[]; text: string }) => Promise<void>
  },
) => Promise<{ receipt: Receipt; sig: Uint8Array; finishReason: TaskFinish }>

export interface InferOutcome {
  receipt: Receipt
  sig: Uint8Array
  finishReason: TaskFinish
  /** The input hash the gateway computed over the bytes it sent. */
  inputHash: Uint8Array
  /** The request frame exactly as sent, kept for verifiers (SPEC 5.3 step 5). */
  requestBytes: Uint8Array
}

type Node = Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol'>

/**
 * `/cordex/<network>/infer/1.0.0` (SPEC 5.3 step 4): the gateway writes one request frame; the
 * executor answers with chunk frames as tokens are generated, then one `done` frame carrying its
 * signed receipt, or an `error` frame. Frames are length-prefixed CBOR, bounded (the request far
 * more tightly than the answer); the executor's generation is cancelled when the gateway goes
 * away; a malformed stream is reset on its own. With a PeerGuard, each peer also has a share of
 * streams and a request rate (refused with BUSY / RATE_LIMITED), and malformed or oversized
 * requests count against it.
 */
export class InferProtocol {
  readonly protocol: string
  /** Streams opened ahead of the next task to an executor (gateway side). */
  private readonly spares: SpareStreams
  /** Tasks this node runs on each executor now (gateway side). */
  private readonly inflight = new Map<string, number>()

  constructor(
    private readonly components: { node: Node; log: Logger; guard?: PeerGuard | null; clock?: Clock },
    network: string,
    private readonly limits: InferLimits,
  ) {
    this.protocol = protocolId(network, 'infer')
    const requestTimeoutMs = limits.requestTimeoutMs ?? DEFAULT_PEER_LIMITS.requestTimeoutMs
    this.spares = new SpareStreams({
      open: (peer, signal) => components.node.dialProtocol(peer, this.protocol, { signal }),
      // Half the executor's request timeout (the same network config gives both sides the same).
      maxAgeMs: requestTimeoutMs / 2,
      maxPeers: MAX_SPARE_PEERS,
      openTimeoutMs: requestTimeoutMs / 2,
      now: () => (components.clock ?? systemClock).now(),
      log: components.log,
    })
  }

  async register(handler: InferHandler): Promise<void> {
    await this.components.node.handle(
      this.protocol,
      (stream: Stream, connection: Connection) => this.serve(stream, connection, handler),
      { maxInboundStreams: this.limits.maxInboundStreams },
    )
  }

  async unregister(): Promise<void> {
    await this.components.node.unhandle(this.protocol)
  }

  /**
   * Run `req` on `peer`, calling `onChunk` for each chunk. Rejects with InferError, whose
   * `meta.peer` names the executor (its message does not); `meta.beforeFirstToken` tells whether
   * another executor may still be tried.
   */
  async run(
    peer: PeerId,
    req: InferRequest,
    opts: {
      onChunk: (c: { tokens: number[]; text: string }) => void
      firstTokenTimeoutMs: number
      timeoutMs: number
      signal?: AbortSignal
    },
  ): Promise<InferOutcome> {
    const bytes = encodeRequest(req)
    const hash = inputHash(bytes)
    const total = deadline(opts.timeoutMs, opts.signal)
    const first = deadline(opts.firstTokenTimeoutMs, total.signal)
    // Until the first token, `first` (which also follows `total`); then `total` alone.
    let signal = first.signal
    let started = false
    const fail = (code: InferErrorCode, message: string, remoteCode?: string): InferError =>
      new InferError(code, message, { peer: peer.toString(), remoteCode, beforeFirstToken: !started })
    const key = peer.toString()
    this.inflight.set(key, (this.inflight.get(key) ?? 0) + 1)

    /** Send the request on `stream` and read its answer; `spare` marks a stream opened earlier. */
    const exchange = async (stream: Stream, spare: boolean): Promise<InferOutcome> => {
      let frames = 0
      try {
        const lp = lpStream(stream, { maxDataLength: this.limits.maxFrameBytes })
        await lp.write(bytes, { signal })
        traceStage(this.components.log, req.taskId, 'gateway: request written')
        for (;;) {
          const frame = decodeFrame((await lp.read({ signal })).subarray(), this.limits.maxFrameBytes)
          frames++
          if (frame.kind === 'chunk') {
            if (!started) {
              traceStage(this.components.log, req.taskId, 'gateway: first chunk read')
              started = true
              first.clear()
              signal = total.signal
              // This stream works: have the next one ready (not before, so that a spare opening
              // never takes the slot a retry on a fresh stream needs), once the first chunk is on
              // its way to the client.
              setImmediate(() => this.prime(peer))
            }
            opts.onChunk(frame)
          } else if (frame.kind === 'error') {
            // A spare refused when it arrived (the executor still counted a finished stream of
            // ours): the request was never looked at, so a fresh stream may try again.
            if (spare && !started && ARRIVAL_REFUSALS.has(frame.code))
              throw new SpareLost(new Error(`${frame.code}: ${frame.message}`))
            throw fail('REMOTE_ERROR', `${frame.code}: ${frame.message}`, frame.code)
          } else {
            await stream.close({ signal }).catch(() => {})
            return {
              receipt: frame.receipt,
              sig: frame.sig,
              finishReason: frame.finishReason,
              inputHash: hash,
              requestBytes: bytes,
            }
          }
        }
      } catch (err) {
        stream.abort(err as Error)
        if (err instanceof InferError || err instanceof SpareLost) throw err
        if (opts.signal?.aborted === true) throw fail('CANCELLED', 'cancelled')
        if (total.signal.aborted) throw fail('STREAM_FAILED', `no answer in ${opts.timeoutMs} ms`)
        if (first.signal.aborted && !started)
          throw fail('NO_FIRST_TOKEN', `no first token in ${opts.firstTokenTimeoutMs} ms`)
        // A spare that broke before a single frame came back (reset by the executor, or its
        // connection gone): the executor never answered it, so a fresh stream tries again.
        if (spare && frames === 0) throw new SpareLost(err as Error)
        const name = (err as Error).name
        if (name === 'InvalidDataLengthError' || err instanceof CodecError)
          throw fail('MALFORMED', (err as Error).message)
        throw fail(started ? 'STREAM_FAILED' : 'NO_FIRST_TOKEN', (err as Error).message)
      }
    }

    try {
      const spare = await this.spares.take(peer, signal)
      if (spare !== undefined) {
        try {
          return await exchange(spare, true)
        } catch (err) {
          if (!(err instanceof SpareLost)) throw err
          this.components.log.debug(
            { peer: key, err: err.cause.message },
            'spare infer stream lost; opening one',
          )
        }
      }
      let stream: Stream
      try {
        stream = await this.components.node.dialProtocol(peer, this.protocol, { signal })
      } catch (err) {
        if (opts.signal?.aborted === true) throw fail('CANCELLED', 'cancelled')
        throw fail('DIAL_FAILED', `cannot open ${this.protocol}: ${(err as Error).message}`)
      }
      return await exchange(stream, false)
    } finally {
      first.clear()
      total.clear()
      const left = (this.inflight.get(key) ?? 1) - 1
      if (left === 0) this.inflight.delete(key)
      else this.inflight.set(key, left)
    }
  }

  /** Spare streams open now, ready for a task (gateway side). */
  get spareStreams(): number {
    return this.spares.size
  }

  /** Close the spare streams (SpareStreams) and open no more. */
  stop(): void {
    this.spares.close()
  }

  /**
   * Have a spare stream ready for the next task to `peer`, while the tasks this node runs there
   * leave room for one among the streams the executor allows a peer (beyond it, the spare would
   * take a task's place or be refused).
   */
  private prime(peer: PeerId): void {
    const slots = this.limits.maxStreamsPerPeer ?? DEFAULT_PEER_LIMITS.maxStreamsPerPeer
    if ((this.inflight.get(peer.toString()) ?? 0) < slots) this.spares.refill(peer)
  }

  private async serve(stream: Stream, connection: Connection, handler: InferHandler): Promise<void> {
    const from = connection.remotePeer
    const peer = from.toString()
    const { guard, log } = this.components
    // SPEC 2: the peer's request rate, then one of its stream slots, before a byte is read.
    const maxRequest = this.limits.maxRequestBytes ?? maxRequestBytes()
    // The read buffer is bounded too (beyond it the stream is reset), with room for one muxer
    // message past a request, so that an oversized request is first seen by its length prefix.
    const lp = lpStream(stream, { maxDataLength: maxRequest, maxBufferSize: 2 * maxRequest + 1024 })
    const rate = this.limits.requestsPerSecond ?? DEFAULT_REQUESTS_PER_SECOND
    if (guard != null && !guard.allow(peer, this.protocol, rate, 2 * rate)) {
      await refuse(stream, lp, 'RATE_LIMITED', `over ${rate} infer requests per second`, true)
      return
    }
    const slots = this.limits.maxStreamsPerPeer ?? DEFAULT_PEER_LIMITS.maxStreamsPerPeer
    const release = guard == null ? () => {} : guard.open(peer, this.protocol, slots)
    if (release === null) {
      await refuse(stream, lp, 'BUSY', `${slots} infer streams from this peer are open already`, true)
      return
    }
    // The gateway went away (reset or closed its side): cancel whatever this stream is doing.
    const gone = new AbortController()
    stream.addEventListener('close', () => gone.abort(), { once: true })
    const late = deadline(this.limits.requestTimeoutMs ?? DEFAULT_PEER_LIMITS.requestTimeoutMs, gone.signal)
    let req: InferRequest
    let bytes: Uint8Array
    try {
      bytes = (await lp.read({ signal: late.signal })).subarray()
      req = decodeRequest(bytes, maxRequest)
    } catch (err) {
      release()
      if (late.signal.aborted) {
        // Silent, slow or gone: the stream and its buffers go now, not at the task's deadline.
        log.debug({ peer }, 'infer request late or abandoned')
        stream.abort(new Error('infer request timeout'))
        return
      }
      late.clear()
      const name = (err as Error).name
      if (name === 'UnexpectedEOFError') {
        stream.abort(err as Error)
        return
      }
      // Over the limit, or not a request: that peer's fault.
      log.debug({ peer, err: (err as Error).message }, 'bad infer request')
      guard?.penalize(peer, `${this.protocol}: ${name}`, PENALTY.reject)
      await refuse(stream, lp, 'BAD_REQUEST', (err as Error).message)
      return
    }
    late.clear()
    traceStage(log, req.taskId, 'executor: request read')
    const task = deadline(this.limits.taskTimeoutMs, gone.signal)
    const signal = task.signal
    let firstWritten = false
    const chunks = new ChunkWriter(async (chunk) => {
      await lp.write(encodeFrame({ kind: 'chunk', ...chunk }), { signal })
      if (!firstWritten) traceStage(log, req.taskId, 'executor: first chunk written')
      firstWritten = true
    })
    try {
      const done = await handler(req, {
        from,
        inputHash: inputHash(bytes),
        requestBytes: bytes,
        signal,
        send: (chunk) => chunks.push(chunk),
      })
      await chunks.drained()
      await lp.write(encodeFrame({ kind: 'done', ...done }), { signal })
      await stream.close({ signal })
    } catch (err) {
      if (signal.aborted) {
        stream.abort(err as Error)
        return
      }
      const code = err instanceof CordexError ? err.code : 'SERVER_ERROR'
      if (!(err instanceof CordexError)) log.warn({ err, peer }, 'infer failed')
      if (err instanceof InferRefusal && err.meta.action !== undefined)
        guard?.penalize(peer, `${this.protocol}: ${code}`, PENALTY[err.meta.action])
      await lp
        .write(encodeFrame({ kind: 'error', code, message: (err as Error).message.slice(0, 512) }), {
          signal,
        })
        .then(() => stream.close({ signal }))
        .catch((e: unknown) => stream.abort(e as Error))
    } finally {
      task.clear()
      release()
    }
  }
}

/**
 * Answer with one error frame, if the stream takes it within a second, then reset the stream:
 * nothing more is read from a peer that was refused, and no buffer waits for it to hang up. A
 * stream refused on arrival first waits (as long) for the peer's first bytes: until then the
 * peer is still negotiating the protocol, and a frame and reset arriving in the middle of that
 * would reach it as a failed dial instead of the refusal's code.
 */
async function refuse(
  stream: Stream,
  lp: { write(b: Uint8Array, o: { signal: AbortSignal }): Promise<void> },
  code: string,
  message: string,
  onArrival = false,
): Promise<void> {
  try {
    if (onArrival) await firstBytes(stream, REFUSAL_WRITE_MS)
    const d = deadline(REFUSAL_WRITE_MS)
    await lp
      .write(encodeFrame({ kind: 'error', code, message: message.slice(0, 512) }), { signal: d.signal })
      .finally(() => d.clear())
  } catch {
    // The frame is lost; the reset below still tells the peer.
  } finally {
    stream.abort(new Error(`${code}: ${message}`))
  }
}

/** Resolves when the peer sends something, the stream ends, or `ms` have passed. */
function firstBytes(stream: Stream, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      stream.removeEventListener('message', done)
      stream.removeEventListener('close', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    stream.addEventListener('message', done)
    stream.addEventListener('close', done)
  })
}
