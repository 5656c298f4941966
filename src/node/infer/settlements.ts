import type { Logger } from '../../util/logger.js'
import type { Clock } from '../../util/clock.js'
import { fromHex, getAccount, getTask, type SignedTx, type StateReader } from '../../ledger/index.js'
import type { OwnTxLane, Queued } from '../chain/ownTxs.js'
import { Backoff } from '../backoff.js'

/** What settlements need of the chain (ChainService has it). */
export interface SettlementChain {
  readonly replica: { readonly state: StateReader }
  queueTx(type: string, body: unknown, opts: { lane: OwnTxLane; check?: boolean }): Queued
  isPending(hashHex: string): boolean
}

export interface SettlementOptions {
  /** Tasks being settled at most; the gateway takes no new task beyond this. */
  max: number
  /** Wait before sending again after a refusal or a drop, doubling up to the max, ms. */
  retryMinMs: number
  retryMaxMs: number
}

export const DEFAULT_SETTLEMENTS: SettlementOptions = { max: 4096, retryMinMs: 500, retryMaxMs: 30_000 }

interface Settlement {
  taskId: string
  /** Nonce of the task's TaskOpen; null when it is in a block already (a task found at start). */
  openNonce: number | null
  kind: 'receipt' | 'cancel'
  body: unknown
  /** The last transaction sent for it. */
  tx: SignedTx | undefined
  /** Waiting in the queue of own transactions. */
  queued: boolean
}

/**
 * Each task this gateway escrowed until it is no longer open on the chain: settled with its
 * receipt (TaskReceipt) or refunded (TaskCancel). A transaction that is refused, dropped from the
 * mempool or that fails in a block is sent again, with backoff, after each block; a receipt that
 * failed in a block becomes a refund. Nothing here survives a restart, and need not: the gateway
 * refunds every task of its own still open at start (InferenceService.start).
 */
export class Settlements {
  private readonly open = new Map<string, Settlement>()
  private readonly backoff: Backoff

  constructor(
    private readonly components: { chain: SettlementChain; me: string; clock: Clock; log: Logger },
    private readonly opts: SettlementOptions = DEFAULT_SETTLEMENTS,
  ) {
    this.backoff = new Backoff(components.clock, opts.retryMinMs, opts.retryMaxMs)
  }

  /** Tasks not yet settled on the chain. */
  get size(): number {
    return this.open.size
  }

  /** No room to track another task: the gateway should open none. */
  get full(): boolean {
    return this.open.size >= this.opts.max
  }

  /** Settle with the executor's receipt. True when the transaction is in the mempool now. */
  receipt(taskId: string, openNonce: number | null, body: unknown): boolean {
    return this.track({ taskId, openNonce, kind: 'receipt', body, tx: undefined, queued: false })
  }

  /** Refund the whole escrow. True when the TaskCancel is in the mempool now. */
  cancel(taskId: string, openNonce: number | null): boolean {
    const body = { taskId: fromHex(taskId) }
    return this.track({ taskId, openNonce, kind: 'cancel', body, tx: undefined, queued: false })
  }

  /** After each block: forget settled tasks, send again what did not make it. */
  check(): void {
    const { chain, me, log } = this.components
    const state = chain.replica.state
    const nonce = getAccount(state, me).nonce
    for (const s of [...this.open.values()]) {
      const opened = s.openNonce === null || nonce > s.openNonce
      if (opened && getTask(state, s.taskId) === undefined) {
        this.open.delete(s.taskId)
        this.backoff.succeed(s.taskId)
        continue
      }
      if (s.queued || (s.tx !== undefined && chain.isPending(s.tx.hashHex))) continue
      if (s.tx !== undefined) {
        if (s.kind === 'receipt' && nonce > s.tx.nonce) {
          // The receipt is in a block and the task is still open: it failed there (its host no
          // longer hosts the model, say). The escrow must not stay locked: refund it.
          log.warn({ taskId: s.taskId }, 'the receipt failed in its block: refunding the escrow')
          s.kind = 'cancel'
          s.body = { taskId: fromHex(s.taskId) }
          this.backoff.succeed(s.taskId)
        } else {
          // Dropped from the mempool before a block took it (evicted, or no longer chargeable).
          this.backoff.fail(s.taskId)
          s.tx = undefined
          continue
        }
      }
      if (this.backoff.ready(s.taskId)) this.send(s)
    }
  }

  private track(s: Settlement): boolean {
    const held = this.open.get(s.taskId)
    // A second call for the same task (a refund at start of one being settled) keeps the first.
    if (held !== undefined) return held.tx !== undefined && this.components.chain.isPending(held.tx.hashHex)
    this.open.set(s.taskId, s)
    return this.send(s)
  }

  private send(s: Settlement): boolean {
    const { chain, log } = this.components
    const type = s.kind === 'receipt' ? 'TaskReceipt' : 'TaskCancel'
    s.queued = true
    s.tx = undefined
    // check: false, since it depends on the task's TaskOpen, which may still be pending.
    const { sent, done } = chain.queueTx(type, s.body, { lane: 'settle', check: false })
    done.then(
      (tx) => {
        s.queued = false
        s.tx = tx
      },
      (err: unknown) => {
        s.queued = false
        const wait = this.backoff.fail(s.taskId)
        log.warn(
          { taskId: s.taskId, type, err: (err as Error).message, retryInMs: wait },
          s.kind === 'cancel'
            ? 'cannot refund the escrow yet: will retry'
            : 'cannot settle the task yet: will retry',
        )
      },
    )
    if (sent !== undefined) {
      s.queued = false
      s.tx = sent
    }
    return sent !== undefined
  }
}
