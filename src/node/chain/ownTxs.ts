import type { Clock } from '../../util/clock.js'
import { CordexError } from '../../util/errors.js'
import { TxRejectedError, type SignedTx } from '../../ledger/index.js'

/**
 * Which line an own transaction waits in. `settle` finishes what is already escrowed (a task's
 * receipt or refund): it goes first and never times out. `new` starts something (a task's escrow):
 * it waits behind settlements, `maxWaitMs` at most.
 */
export type OwnTxLane = 'settle' | 'new'

export type OwnTxErrorCode = 'QUEUE_FULL' | 'TIMEOUT' | 'ABORTED' | 'STOPPED'

/** An own transaction that was never signed: nothing of it reached the mempool. */
export class OwnTxError extends CordexError<OwnTxErrorCode, { lane: OwnTxLane }> {}

/** What to sign; the nonce is picked when it is sent. */
export interface OwnTx {
  type: string
  body: unknown
  fee?: bigint
  /** false: skip the check against the current state (it depends on an own pending transaction). */
  check?: boolean
}

export interface OwnTxQueueOptions {
  /** Transactions waiting per lane, at most; more are refused with QUEUE_FULL. */
  maxQueued: Record<OwnTxLane, number>
  /** Longest a `new` transaction waits for room, ms. */
  maxWaitMs: number
}

export const DEFAULT_OWN_TX_QUEUE: OwnTxQueueOptions = {
  maxQueued: { settle: 8192, new: 256 },
  maxWaitMs: 20_000,
}

/** The transaction in the mempool now (undefined: it waits), and the promise of it. */
export interface Queued {
  sent: SignedTx | undefined
  done: Promise<SignedTx>
}

/** Mempool refusals that pass by themselves once blocks take this sender's pending transactions. */
const TRANSIENT = new Set<string>(['NONCE_GAP', 'SENDER_LIMIT', 'MEMPOOL_FULL'])

interface Entry {
  tx: OwnTx
  lane: OwnTxLane
  since: number
  resolve: (tx: SignedTx) => void
  reject: (err: Error) => void
  unlisten: () => void
}

/**
 * Own transactions share one nonce sequence, and every mempool (this node's and its peers') admits
 * only so many pending ones from a sender (SPEC: the nonce window and the per-sender count). So
 * they go through this queue: it signs each one only when it is sent, at the next nonce, so the
 * sequence has no gaps, and sends only while `room()` says the sender has fewer pending than every
 * mempool admits; the rest wait (bounded) for blocks to take the pending ones. Pure apart from the
 * clock: the shell calls `pump` after every block and on a timer.
 */
export class OwnTxQueue {
  private readonly lanes: Record<OwnTxLane, Entry[]> = { settle: [], new: [] }
  private stopped = false

  constructor(
    private readonly components: {
      clock: Clock
      /** How many more own transactions the mempools admit now. */
      room: () => number
      /** Sign at the next nonce and admit to the mempool; throws TxRejectedError. */
      send: (tx: OwnTx) => SignedTx
    },
    private readonly opts: OwnTxQueueOptions = DEFAULT_OWN_TX_QUEUE,
  ) {}

  /** Transactions waiting, both lanes. */
  get size(): number {
    return this.lanes.settle.length + this.lanes.new.length
  }

  /**
   * Queue `tx`, and send it at once when there is room and nothing waits before it. `done` rejects
   * with OwnTxError (QUEUE_FULL, TIMEOUT, ABORTED, STOPPED: nothing was signed) or with the
   * TxRejectedError of a refusal that waiting does not cure.
   */
  enqueue(tx: OwnTx, opts: { lane: OwnTxLane; signal?: AbortSignal }): Queued {
    const { lane, signal } = opts
    const refuse = (code: OwnTxErrorCode, why: string): Queued => {
      const done = Promise.reject(new OwnTxError(code, why, { lane }))
      done.catch(() => {}) // the caller may look at `sent` only
      return { sent: undefined, done }
    }
    if (this.stopped) return refuse('STOPPED', 'the node is stopping')
    if (signal?.aborted === true) return refuse('ABORTED', 'cancelled before it was sent')
    const line = this.lanes[lane]
    if (line.length >= this.opts.maxQueued[lane])
      return refuse('QUEUE_FULL', `${line.length} own transactions already wait to be sent`)
    let sent: SignedTx | undefined
    const done = new Promise<SignedTx>((resolve, reject) => {
      const entry: Entry = {
        tx,
        lane,
        since: this.components.clock.now(),
        resolve: (t) => {
          sent = t
          entry.unlisten()
          resolve(t)
        },
        reject: (err) => {
          entry.unlisten()
          reject(err)
        },
        unlisten: () => {},
      }
      if (signal !== undefined) {
        const onAbort = (): void => {
          if (this.drop(entry))
            entry.reject(new OwnTxError('ABORTED', 'cancelled before it was sent', { lane }))
        }
        signal.addEventListener('abort', onAbort, { once: true })
        entry.unlisten = () => signal.removeEventListener('abort', onAbort)
      }
      line.push(entry)
    })
    done.catch(() => {}) // seen by the caller through `done`
    this.pump()
    return { sent, done }
  }

  /**
   * Send what fits, settlements first, in order; time out `new` transactions that waited too
   * long. A transient refusal (the mempool is full, the window is) leaves the transaction at the
   * head of its line for the next call.
   */
  pump(): void {
    const now = this.components.clock.now()
    const late = this.lanes.new.filter((e) => now - e.since >= this.opts.maxWaitMs)
    for (const e of late) {
      this.drop(e)
      e.reject(
        new OwnTxError('TIMEOUT', `no room for this node's transaction within ${this.opts.maxWaitMs} ms`, {
          lane: 'new',
        }),
      )
    }
    for (;;) {
      const line = this.lanes.settle.length > 0 ? this.lanes.settle : this.lanes.new
      const entry = line[0]
      if (entry === undefined || this.components.room() <= 0) return
      let tx: SignedTx
      try {
        tx = this.components.send(entry.tx)
      } catch (err) {
        if (err instanceof TxRejectedError && TRANSIENT.has(err.code)) return
        line.shift()
        entry.reject(err as Error)
        continue
      }
      line.shift()
      entry.resolve(tx)
    }
  }

  /** Refuse everything still waiting: nothing more is sent. */
  stop(): void {
    this.stopped = true
    for (const lane of ['settle', 'new'] as const) {
      for (const e of this.lanes[lane].splice(0)) {
        e.reject(new OwnTxError('STOPPED', 'the node stopped before it was sent', { lane }))
      }
    }
  }

  private drop(entry: Entry): boolean {
    const line = this.lanes[entry.lane]
    const i = line.indexOf(entry)
    if (i < 0) return false
    line.splice(i, 1)
    return true
  }
}

/**
 * Own transactions kept pending at most: what every peer's mempool admits from one sender (the
 * nonce window, counted from the committed nonce, and the per-sender count), less a quarter kept
 * for transactions sent directly (the Race's, host announcements, `POST /tx`).
 */
export function ownTxWindow(m: { maxNonceGap: number; maxPerSender: number }): number {
  const admitted = Math.min(m.maxNonceGap + 1, m.maxPerSender)
  return Math.max(1, admitted - Math.ceil(admitted / 4))
}
