import type { PeerId, Stream } from '@libp2p/interface'
import type { Logger } from '../../util/logger.js'

export interface SpareStreamsOptions {
  /** Open a negotiated infer stream to `peer`. */
  open: (peer: PeerId, signal: AbortSignal) => Promise<Stream>
  /**
   * A spare older than this is not used (closed instead): the executor resets a stream whose
   * request has not come within its request timeout, so this must stay well under that.
   */
  maxAgeMs: number
  /** Executors with a spare at most (a new one is not opened beyond it). */
  maxPeers: number
  /** The longest opening a spare may take. */
  openTimeoutMs: number
  now: () => number
  log: Logger
}

interface Spare {
  stream: Stream
  openedAt: number
}

/**
 * Infer streams opened ahead of need: at most one per executor, opened in the background once a
 * task to that executor is under way, so that the next task to it skips the stream's opening (a
 * yamux stream, multistream-select's round trip and the peer-store update on both sides: 5-9 ms of
 * the time to first token on a loaded machine). An idle gateway opens nothing: the caller asks for
 * a spare only when a task's first chunk has come from that executor. The executor counts an open
 * spare against this peer's streams and rate, as it counts any stream; the caller keeps a spare
 * only while the tasks it has on that executor leave room for one.
 */
export class SpareStreams {
  private readonly spares = new Map<string, Spare>()
  private readonly opening = new Map<string, Promise<void>>()
  private closed = false
  private readonly abort = new AbortController()

  constructor(private readonly opts: SpareStreamsOptions) {}

  /**
   * The spare for `peer` if it is open and young enough; it is no longer a spare. One still
   * opening is waited for (up to `signal`): the task would otherwise open a stream of its own
   * beside it, one more than the executor may have counted on.
   */
  async take(peer: PeerId, signal?: AbortSignal): Promise<Stream | undefined> {
    const key = peer.toString()
    const opening = this.opening.get(key)
    if (opening !== undefined) await raceAbort(opening, signal)
    const spare = this.spares.get(key)
    if (spare === undefined) return undefined
    this.spares.delete(key)
    const fresh = this.opts.now() - spare.openedAt <= this.opts.maxAgeMs
    if (fresh && spare.stream.status === 'open' && spare.stream.writeStatus === 'writable')
      return spare.stream
    spare.stream.abort(new Error('spare infer stream too old'))
    return undefined
  }

  /** Open a spare for `peer` in the background, unless it has one (or one on the way). */
  refill(peer: PeerId): void {
    const key = peer.toString()
    if (this.closed || this.spares.has(key) || this.opening.has(key)) return
    if (this.spares.size + this.opening.size >= this.opts.maxPeers) return
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.opts.openTimeoutMs)])
    const opened = this.opts
      .open(peer, signal)
      .then((stream) => {
        if (this.closed) {
          stream.abort(new Error('infer streams closed'))
          return
        }
        const spare = { stream, openedAt: this.opts.now() }
        this.spares.set(key, spare)
        // Reset by the executor (its request timeout) or gone with the connection: forget it.
        stream.addEventListener(
          'close',
          () => {
            if (this.spares.get(key) === spare) this.spares.delete(key)
          },
          { once: true },
        )
      })
      .catch((err: unknown) =>
        this.opts.log.debug({ peer: key, err: (err as Error).message }, 'no spare infer stream'),
      )
      .finally(() => this.opening.delete(key))
    this.opening.set(key, opened)
  }

  /** Spares open now. */
  get size(): number {
    return this.spares.size
  }

  /** Close every spare and open no more. */
  close(): void {
    this.closed = true
    this.abort.abort()
    for (const { stream } of this.spares.values()) stream.abort(new Error('infer streams closed'))
    this.spares.clear()
  }
}

/** `p`, or undefined as soon as `signal` aborts. */
function raceAbort(p: Promise<void>, signal?: AbortSignal): Promise<void> {
  if (signal === undefined) return p
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const done = (): void => {
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
    void p.then(done)
  })
}
