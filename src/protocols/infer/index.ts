import { lpStream } from '@libp2p/utils'
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'
import type { Logger } from '../../util/logger.js'
import { CordexError } from '../../util/errors.js'
import { protocolId } from '../ids.js'
import type { Receipt } from '../../ledger/task/receipt.js'
import {
  decodeFrame,
  decodeRequest,
  encodeFrame,
  encodeRequest,
  inputHash,
  type InferRequest,
} from './codec.js'

export {
  encodeRequest,
  decodeRequest,
  encodeFrame,
  decodeFrame,
  inputHash,
  MAX_PROMPT_CHARS,
} from './codec.js'
export type { InferRequest, InferFrame } from './codec.js'

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

/** An executor-side refusal with a code the gateway sees (UNKNOWN_MODEL, BUSY, BAD_REQUEST...). */
export class InferRefusal extends CordexError<string> {}

export interface InferLimits {
  maxFrameBytes: number
  /** Executor side: the longest a task may stream. */
  taskTimeoutMs: number
  maxInboundStreams: number
}

/** The executor's side of one task: stream chunks with `send`, then return the signed receipt. */
export type InferHandler = (
  req: InferRequest,
  ctx: {
    from: PeerId
    inputHash: Uint8Array
    signal: AbortSignal
    send: (chunk: { tokens: number[]; text: string }) => Promise<void>
  },
) => Promise<{ receipt: Receipt; sig: Uint8Array; finishReason: 'stop' | 'length' }>

export interface InferOutcome {
  receipt: Receipt
  sig: Uint8Array
  finishReason: 'stop' | 'length'
  /** The input hash the gateway computed over the bytes it sent. */
  inputHash: Uint8Array
}

type Node = Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol'>

/**
 * `/cordex/<network>/infer/1.0.0` (SPEC 5.3 step 4): the gateway writes one request frame; the
 * executor answers with chunk frames as tokens are generated, then one `done` frame carrying its
 * signed receipt, or an `error` frame. Frames are length-prefixed CBOR, bounded; the executor's
 * generation is cancelled when the gateway goes away; a malformed stream is reset on its own.
 */
export class InferProtocol {
  readonly protocol: string

  constructor(
    private readonly components: { node: Node; log: Logger },
    network: string,
    private readonly limits: InferLimits,
  ) {
    this.protocol = protocolId(network, 'infer')
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
   * Run `req` on `peer`, calling `onChunk` for each chunk. Rejects with InferError; its
   * `meta.beforeFirstToken` tells whether another executor may still be tried.
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
    const deadline = AbortSignal.timeout(opts.timeoutMs)
    const firstToken = new AbortController()
    const firstTimer = setTimeout(() => firstToken.abort(), opts.firstTokenTimeoutMs)
    const signal = AbortSignal.any([deadline, firstToken.signal, ...(opts.signal ? [opts.signal] : [])])
    let started = false
    const fail = (code: InferErrorCode, message: string, remoteCode?: string): InferError =>
      new InferError(code, message, { peer: peer.toString(), remoteCode, beforeFirstToken: !started })
    let stream: Stream
    try {
      stream = await this.components.node.dialProtocol(peer, this.protocol, { signal })
    } catch (err) {
      clearTimeout(firstTimer)
      if (opts.signal?.aborted === true) throw fail('CANCELLED', 'cancelled')
      throw fail('DIAL_FAILED', `cannot open ${this.protocol} to ${peer}: ${(err as Error).message}`)
    }
    try {
      const lp = lpStream(stream, { maxDataLength: this.limits.maxFrameBytes })
      await lp.write(bytes, { signal })
      for (;;) {
        const frame = decodeFrame((await lp.read({ signal })).subarray(), this.limits.maxFrameBytes)
        if (frame.kind === 'chunk') {
          if (!started) {
            started = true
            clearTimeout(firstTimer)
          }
          opts.onChunk(frame)
        } else if (frame.kind === 'error') {
          throw fail('REMOTE_ERROR', `${peer}: ${frame.message}`, frame.code)
        } else {
          await stream.close({ signal }).catch(() => {})
          return { receipt: frame.receipt, sig: frame.sig, finishReason: frame.finishReason, inputHash: hash }
        }
      }
    } catch (err) {
      stream.abort(err as Error)
      if (err instanceof InferError) throw err
      if (opts.signal?.aborted === true) throw fail('CANCELLED', 'cancelled')
      if (firstToken.signal.aborted && !started)
        throw fail('NO_FIRST_TOKEN', `${peer}: no first token in ${opts.firstTokenTimeoutMs} ms`)
      if (deadline.aborted) throw fail('STREAM_FAILED', `${peer}: no answer in ${opts.timeoutMs} ms`)
      const name = (err as Error).name
      if (name === 'InvalidDataLengthError' || (err as Error).message.startsWith('infer frame'))
        throw fail('MALFORMED', `${peer}: ${(err as Error).message}`)
      throw fail(started ? 'STREAM_FAILED' : 'NO_FIRST_TOKEN', `${peer}: ${(err as Error).message}`)
    } finally {
      clearTimeout(firstTimer)
    }
  }

  private async serve(stream: Stream, connection: Connection, handler: InferHandler): Promise<void> {
    const from = connection.remotePeer
    const ac = new AbortController()
    const signal = AbortSignal.any([ac.signal, AbortSignal.timeout(this.limits.taskTimeoutMs)])
    // The gateway went away (reset or closed its side): cancel the generation.
    stream.addEventListener('close', () => ac.abort(), { once: true })
    const lp = lpStream(stream, { maxDataLength: this.limits.maxFrameBytes })
    let req: InferRequest
    let bytes: Uint8Array
    try {
      bytes = (await lp.read({ signal })).subarray()
      req = decodeRequest(bytes, this.limits.maxFrameBytes)
    } catch (err) {
      this.components.log.debug({ peer: from.toString(), err: (err as Error).message }, 'bad infer request')
      // A malformed request gets an error frame, if the stream still takes one, then a reset.
      await lp
        .write(
          encodeFrame({ kind: 'error', code: 'BAD_REQUEST', message: (err as Error).message.slice(0, 512) }),
          {
            signal: AbortSignal.timeout(1000),
          },
        )
        .catch(() => {})
      stream.abort(err as Error)
      return
    }
    try {
      const done = await handler(req, {
        from,
        inputHash: inputHash(bytes),
        signal,
        send: async (chunk) => {
          await lp.write(encodeFrame({ kind: 'chunk', ...chunk }), { signal })
        },
      })
      await lp.write(encodeFrame({ kind: 'done', ...done }), { signal })
      await stream.close({ signal })
    } catch (err) {
      if (signal.aborted) {
        stream.abort(err as Error)
        return
      }
      const code = err instanceof CordexError ? err.code : 'SERVER_ERROR'
      if (!(err instanceof CordexError))
        this.components.log.warn({ err, peer: from.toString() }, 'infer failed')
      await lp
        .write(encodeFrame({ kind: 'error', code, message: (err as Error).message.slice(0, 512) }), {
          signal,
        })
        .then(() => stream.close({ signal }))
        .catch((e: unknown) => stream.abort(e as Error))
    }
  }
}
