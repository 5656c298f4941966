import { TxRejectedError } from './errors.js'
import { verifyTx, minFee, type SignedTx, type TxRegistry } from './tx/index.js'
import { getAccount, getParams } from './state/access.js'
import type { StateReader } from './state/state.js'

export interface MempoolOptions {
  /** Transactions held at most. */
  maxTxs: number
  /** Bytes held at most. */
  maxBytes: number
  /** Transactions held per sender at most. */
  maxPerSender: number
  /** How far ahead of the sender's next nonce a transaction may be. */
  maxNonceGap: number
}

export const DEFAULT_MEMPOOL: MempoolOptions = {
  maxTxs: 20_000,
  maxBytes: 32 * 1024 * 1024,
  maxPerSender: 256,
  maxNonceGap: 64,
}

/**
 * Pending transactions, per sender in nonce order, bounded in count and bytes. Admission checks
 * what can be checked before a block: encoding limits, signature, nonce window, fee, and that the
 * balance covers the fee. When full, a new transaction evicts the lowest-fee last-in-line one if
 * it pays more. Every refusal is a TxRejectedError with its reason.
 */
export class Mempool {
  private readonly bySender = new Map<string, Map<number, SignedTx>>()
  private readonly byHash = new Map<string, SignedTx>()
  private bytes = 0

  constructor(
    private readonly registry: TxRegistry,
    private readonly chainId: string,
    private readonly opts: MempoolOptions = DEFAULT_MEMPOOL,
  ) {}

  get size(): number {
    return this.byHash.size
  }

  get sizeBytes(): number {
    return this.bytes
  }

  has(hashHex: string): boolean {
    return this.byHash.has(hashHex)
  }

  add(tx: SignedTx, state: StateReader): void {
    const reject = (code: TxRejectedError['code'], why: string): never => {
      throw new TxRejectedError(code, why, { txHash: tx.hashHex })
    }
    const params = getParams(state)
    if (this.byHash.has(tx.hashHex)) reject('DUPLICATE', 'already pending')
    if (tx.bytes.length > params.maxTxBytes)
      reject('TOO_LARGE', `${tx.bytes.length} bytes is over ${params.maxTxBytes}`)
    if (!verifyTx(this.registry, this.chainId, tx)) reject('BAD_SIGNATURE', 'signature does not verify')
    const acct = getAccount(state, tx.from)
    if (tx.nonce < acct.nonce) reject('NONCE_TOO_LOW', `nonce ${tx.nonce} was used; next is ${acct.nonce}`)
    if (tx.nonce > acct.nonce + this.opts.maxNonceGap)
      reject('NONCE_GAP', `nonce ${tx.nonce} is too far ahead of ${acct.nonce}`)
    const floor = minFee(this.registry.get(tx.type), params.minTxFee)
    if (tx.fee < floor) reject('FEE_TOO_LOW', `fee ${tx.fee} is below ${floor}`)
    if (acct.balance < tx.fee)
      reject('INSUFFICIENT_FUNDS', `balance ${acct.balance} cannot pay the fee ${tx.fee}`)
    const queue = this.bySender.get(tx.from)
    if (queue?.has(tx.nonce)) reject('DUPLICATE', `nonce ${tx.nonce} is already pending from this sender`)
    if ((queue?.size ?? 0) >= this.opts.maxPerSender)
      reject('SENDER_LIMIT', `${this.opts.maxPerSender} pending from this sender`)
    while (this.byHash.size >= this.opts.maxTxs || this.bytes + tx.bytes.length > this.opts.maxBytes) {
      const victim = this.cheapestTail()
      if (victim === undefined || victim.fee >= tx.fee)
        reject('MEMPOOL_FULL', 'mempool full and the fee is not higher')
      this.remove(victim!)
    }
    this.insert(tx)
  }

  /** The nonce a new transaction from `sender` should carry: after its pending ones. */
  nextNonce(sender: string, state: StateReader): number {
    const queue = this.bySender.get(sender)
    let n = getAccount(state, sender).nonce
    while (queue?.has(n)) n++
    return n
  }

  /** `sender`'s pending transactions that a block could take now: from its next nonce, without gaps. */
  lane(sender: string, state: StateReader): SignedTx[] {
    const queue = this.bySender.get(sender)
    const out: SignedTx[] = []
    for (let n = getAccount(state, sender).nonce; queue?.has(n) === true; n++) out.push(queue.get(n)!)
    return out
  }

  /**
   * Candidates for a block: each sender's transactions from its next nonce on, without gaps,
   * senders interleaved by fee of their next transaction.
   */
  reap(state: StateReader, maxTxs: number): SignedTx[] {
    const lanes: SignedTx[][] = []
    for (const sender of this.bySender.keys()) {
      const lane = this.lane(sender, state)
      if (lane.length > 0) lanes.push(lane)
    }
    const out: SignedTx[] = []
    while (out.length < maxTxs && lanes.length > 0) {
      lanes.sort((a, b) => (b[0]!.fee > a[0]!.fee ? 1 : b[0]!.fee < a[0]!.fee ? -1 : 0))
      const lane = lanes[0]!
      out.push(lane.shift()!)
      if (lane.length === 0) lanes.shift()
    }
    return out
  }

  /** After a commit: drop what was included and whatever the new nonces made stale. */
  update(state: StateReader, included: readonly SignedTx[]): void {
    for (const tx of included) {
      const held = this.byHash.get(tx.hashHex)
      if (held !== undefined) this.remove(held)
    }
    const senders = new Set(included.map((t) => t.from))
    for (const sender of senders) {
      const next = getAccount(state, sender).nonce
      for (const tx of [...(this.bySender.get(sender)?.values() ?? [])]) if (tx.nonce < next) this.remove(tx)
    }
  }

  /**
   * After a commit: re-validate every sender's pending run of transactions against the new state.
   * `valid(lane)` says how many of the lane (in nonce order, from the sender's next nonce) still
   * apply; the rest are dropped, so one transaction that can no longer land (its phase is over,
   * its funds are gone) never blocks the sender's later ones.
   */
  recheck(state: StateReader, valid: (lane: SignedTx[]) => number): void {
    for (const [sender, queue] of [...this.bySender]) {
      const lane = [...queue.values()].sort((a, b) => a.nonce - b.nonce)
      const next = getAccount(state, sender).nonce
      const contiguous: SignedTx[] = []
      for (const tx of lane) if (tx.nonce === next + contiguous.length) contiguous.push(tx)
      const keep = valid(contiguous)
      for (const tx of contiguous.slice(keep)) this.remove(tx)
    }
  }

  private insert(tx: SignedTx): void {
    let queue = this.bySender.get(tx.from)
    if (queue === undefined) this.bySender.set(tx.from, (queue = new Map()))
    queue.set(tx.nonce, tx)
    this.byHash.set(tx.hashHex, tx)
    this.bytes += tx.bytes.length
  }

  private remove(tx: SignedTx): void {
    const queue = this.bySender.get(tx.from)
    queue?.delete(tx.nonce)
    if (queue?.size === 0) this.bySender.delete(tx.from)
    this.byHash.delete(tx.hashHex)
    this.bytes -= tx.bytes.length
  }

  /** The lowest-fee transaction among the senders' last ones (evicting it leaves no gap). */
  private cheapestTail(): SignedTx | undefined {
    let best: SignedTx | undefined
    for (const queue of this.bySender.values()) {
      let tail: SignedTx | undefined
      for (const tx of queue.values()) if (tail === undefined || tx.nonce > tail.nonce) tail = tx
      if (tail !== undefined && (best === undefined || tail.fee < best.fee)) best = tail
    }
    return best
  }
}
