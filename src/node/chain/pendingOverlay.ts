import { Overlay, TxRejectedError, equalBytes, type SignedTx, type State } from '../../ledger/index.js'

/**
 * This node's pending transactions applied on top of the committed state, as the next block would
 * run them, for checking a new own transaction against (ChainService.sendTx). Kept between sends:
 * while the head stays, a send applies only the pending transactions admitted since the one
 * before, not the whole lane again. A node running many tasks at once has dozens pending, and
 * applying them all for every escrow and receipt was quadratic in them. A transaction that fails
 * on top of the others is skipped, as a block would fail it and go on. Each is applied with the
 * block (height, time) of the send that applied it first, within one head of the one now. Rebuilt
 * at the next head (the state changed, blocks took part of the lane), or when the lane is not the
 * one applied followed by new ones.
 */
export class PendingOverlay {
  private applied: { head: Uint8Array; hashes: string[]; overlay: Overlay } | undefined

  /**
   * The overlay of `lane` (this node's pending transactions, in nonce order, from
   * Mempool.lane) on `state`, the state committed at block `head` (its hash). `apply` runs one
   * transaction as a block would; it throws TxRejectedError for one that fails, and anything else
   * for a bug, which reaches the caller. The overlay is this object's: the caller takes a
   * child of it to try a transaction on.
   */
  on(
    state: State,
    head: Uint8Array,
    lane: readonly SignedTx[],
    apply: (overlay: Overlay, tx: SignedTx) => void,
  ): Overlay {
    let a = this.applied
    if (a === undefined || !equalBytes(a.head, head) || !continues(a.hashes, lane)) {
      a = { head, hashes: [], overlay: new Overlay(state) }
      this.applied = a
    }
    for (const tx of lane.slice(a.hashes.length)) {
      const child = a.overlay.child()
      try {
        apply(child, tx)
        a.overlay.absorb(child)
      } catch (err) {
        if (!(err instanceof TxRejectedError)) {
          this.applied = undefined
          throw err
        }
      }
      a.hashes.push(tx.hashHex)
    }
    return a.overlay
  }
}

/** Whether `lane` begins with the transactions `hashes` names, in that order. */
function continues(hashes: readonly string[], lane: readonly SignedTx[]): boolean {
  if (lane.length < hashes.length) return false
  return hashes.every((h, i) => lane[i]!.hashHex === h)
}
