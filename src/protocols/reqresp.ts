import { lpStream } from '@libp2p/utils'
import type { Connection, PeerId, Stream, Libp2p } from '@libp2p/interface'
import type { Logger } from '../util/logger.js'
import { ProtocolError } from './errors.js'
import { DEFAULT_PEER_LIMITS, PENALTY, type PeerGuard } from './guard.js'
import { deadline } from '../util/deadline.js'

/** Limits shared by every request/response protocol (SPEC 2: bounded frames, timeouts, stream caps). */
export interface ReqRespLimits {
  /** Largest frame, request or response, in bytes. */
  maxFrameBytes: number
  /** Deadline for the whole exchange, in milliseconds. */
  timeoutMs: number
  /** Concurrent inbound streams per connection for this protocol. */
  maxInboundStreams: number
  /** Deadline for the request frame to arrive whole, from the stream's opening. Default 5 s. */
  requestTimeoutMs?: number
  /** Concurrent inbound streams per peer (over all its connections). Default 8. */
  maxStreamsPerPeer?: number
  /** Requests per second per peer (bursts of twice as many). Default 50. */
  requestsPerSecond?: number
  /** Server side: largest request frame, bytes, when requests are far smaller than responses. Default `maxFrameBytes`. */
  maxRequestBytes?: number
}

/**
 * First byte of every response frame. A handler that throws a ProtocolError answers with
 * INVALID_REQUEST; anything else it throws answers with SERVER_ERROR, never crashing the daemon.
 */
export enum ResponseCode {
  OK = 0,
  INVALID_REQUEST = 1,
  SERVER_ERROR = 2,
  /** The peer is over its rate or stream limit: try later. */
  BUSY = 3,
}

/** Handles one decoded request; never sees the stream (STYLE: handlers are plain functions). */
export type RequestHandler = (request: Uint8Array, from: PeerId) => Promise<Uint8Array>

type Node = Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol'>

/**
 * A length-prefixed request/response protocol: one request frame in, one response frame out,
 * everything under one deadline. The stream code only frames, times out and reports; meaning lives
 * in the handler.
 */
export class ReqResp {
  constructor(
    private readonly components: { node: Node; log: Logger; guard?: PeerGuard | null },
    readonly protocol: string,
    private readonly limits: ReqRespLimits,
  ) {}

  async register(handler: RequestHandler): Promise<void> {
    await this.components.node.handle(
      this.protocol,
      (stream: Stream, connection: Connection) => this.serve(stream, connection, handler),
      { maxInboundStreams: this.limits.maxInboundStreams },
    )
  }

  async unregister(): Promise<void> {
    await this.components.node.unhandle(this.protocol)
  }

  /** Send one request to `peer` and return the response payload; throws ProtocolError. */
  async request(
    peer: PeerId,
    payload: Uint8Array,
    options: { signal?: AbortSignal } = {},
  ): Promise<Uint8Array> {
    const exchange = deadline(this.limits.timeoutMs, options.signal)
    try {
      return await this.exchange(peer, payload, exchange.signal)
    } finally {
      exchange.clear()
    }
  }

  private async exchange(peer: PeerId, payload: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
    let stream: Stream
    try {
      stream = await this.components.node.dialProtocol(peer, this.protocol, { signal })
    } catch (err) {
      throw this.error(
        'DIAL_FAILED',
        `cannot open ${this.protocol} to ${peer}: ${(err as Error).message}`,
        'ignore',
      )
    }
    try {
      const lp = lpStream(stream, { maxDataLength: this.limits.maxFrameBytes })
      await lp.write(payload, { signal })
      const frame = (await lp.read({ signal })).subarray()
      await stream.close({ signal }).catch(() => {})
      const code = frame[0]
      const body = frame.subarray(1)
      if (code === ResponseCode.OK) return body
      throw this.error(
        'REMOTE_ERROR',
        `${peer} answered ${ResponseCode[code ?? -1] ?? code}: ${text(body)}`,
        'ignore',
      )
    } catch (err) {
      stream.abort(err as Error)
      throw this.classify(err, signal)
    }
  }

  private async serve(stream: Stream, connection: Connection, handler: RequestHandler): Promise<void> {
    const from = connection.remotePeer
    const peer = from.toString()
    const { guard } = this.components
    // SPEC 2: per-peer stream and rate limits, before a byte is read.
    const release =
      guard === undefined || guard === null
        ? () => {}
        : guard.open(
            peer,
            this.protocol,
            this.limits.maxStreamsPerPeer ?? DEFAULT_PEER_LIMITS.maxStreamsPerPeer,
          )
    if (release === null) {
      stream.abort(new Error('too many streams'))
      return
    }
    const exchange = deadline(this.limits.timeoutMs)
    const signal = exchange.signal
    // A silent or slow sender is cut off when its request is late, not at the end of the exchange.
    const request = deadline(this.limits.requestTimeoutMs ?? DEFAULT_PEER_LIMITS.requestTimeoutMs, signal)
    const requestSignal = request.signal
    try {
      const lp = lpStream(stream, { maxDataLength: this.limits.maxRequestBytes ?? this.limits.maxFrameBytes })
      const rate = this.limits.requestsPerSecond ?? DEFAULT_PEER_LIMITS.requestsPerSecond
      if (guard?.allow(peer, this.protocol, rate, 2 * rate) === false) {
        await lp.write(prepend(ResponseCode.BUSY, new TextEncoder().encode('over the request rate')), {
          signal,
        })
        await stream.close({ signal })
        return
      }
      const frame = (await lp.read({ signal: requestSignal })).subarray()
      request.clear()
      let response: Uint8Array
      try {
        response = prepend(ResponseCode.OK, await handler(frame, from))
      } catch (err) {
        const code = err instanceof ProtocolError ? ResponseCode.INVALID_REQUEST : ResponseCode.SERVER_ERROR
        if (code === ResponseCode.SERVER_ERROR)
          this.components.log.warn({ err, peer: from.toString() }, 'handler failed')
        else this.punish(peer, err as ProtocolError)
        response = prepend(code, new TextEncoder().encode((err as Error).message.slice(0, 512)))
      }
      await lp.write(response, { signal })
      await stream.close({ signal })
    } catch (err) {
      const e = this.classify(err, requestSignal.aborted ? requestSignal : signal)
      this.components.log.debug(
        { peer: from.toString(), code: e.code, err: e.message },
        'inbound stream failed',
      )
      this.punish(peer, e)
      stream.abort(e)
    } finally {
      request.clear()
      exchange.clear()
      release()
    }
  }

  private punish(peer: string, err: ProtocolError): void {
    this.components.guard?.penalize(peer, `${this.protocol}: ${err.code}`, PENALTY[err.meta.action])
  }

  private classify(err: unknown, signal: AbortSignal): ProtocolError {
    if (err instanceof ProtocolError) return err
    const name = (err as Error).name
    if (signal.aborted)
      return this.error('TIMEOUT', `${this.protocol}: no answer in ${this.limits.timeoutMs} ms`, 'ignore')
    if (name === 'InvalidDataLengthError') {
      return this.error(
        'FRAME_TOO_LARGE',
        `${this.protocol}: frame over ${this.limits.maxFrameBytes} bytes`,
        'penalize',
      )
    }
    if (name === 'UnexpectedEOFError')
      return this.error('STREAM_CLOSED', `${this.protocol}: stream ended early`, 'ignore')
    return this.error('MALFORMED', `${this.protocol}: ${(err as Error).message}`, 'reject')
  }

  private error(
    code: ProtocolError['code'],
    message: string,
    action: 'ignore' | 'reject' | 'penalize',
  ): ProtocolError {
    return new ProtocolError(code, message, { protocol: this.protocol, action })
  }
}

function prepend(code: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 1)
  out[0] = code
  out.set(body, 1)
  return out
}

function text(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes.subarray(0, 512))
}
