import type { Logger } from '../../util/logger.js'
import { epochWeights, getInferenceParams, getPriceVote, type StateReader } from '../../ledger/index.js'
import { getEpoch } from '../../ledger/epoch/access.js'

/** What the voter needs of the chain (ChainService is one). */
export interface PriceVoterChain {
  readonly replica: { readonly state: StateReader }
  onCommit(listener: () => void): void
  offCommit(listener: () => void): void
  sendTx(type: string, body: unknown): unknown
}

export interface PriceVoterOptions {
  /** The price this daemon votes, base units per unit of compute (config `inference.priceVote`); 0: no vote. */
  price: bigint
}

/**
 * Keeps this peer's price vote (SPEC 7) on the ledger: after every block, when the chain takes
 * tasks, this peer has weight in the current epoch (a vote without weight counts for nothing) and
 * its recorded vote differs from the configured one, it sends a PriceVote, at most once per
 * epoch (a vote that failed to land is retried in the next epoch, not block after block).
 */
export class PriceVoter {
  /** The epoch in which a vote was last sent (or its sending failed). */
  private sentEpoch: number | null = null
  private readonly onCommit = (): void => {
    this.check()
  }

  constructor(
    private readonly components: { chain: PriceVoterChain; log: Logger; me: string },
    private readonly opts: PriceVoterOptions,
  ) {}

  start(): void {
    this.components.chain.onCommit(this.onCommit)
    this.check()
  }

  stop(): void {
    this.components.chain.offCommit(this.onCommit)
  }

  /** Vote now if a vote is due; exposed for tests. Returns whether a PriceVote was sent. */
  check(): boolean {
    const { chain, log, me } = this.components
    const want = this.opts.price
    if (want <= 0n) return false
    const state = chain.replica.state
    if (getInferenceParams(state) === undefined) return false
    const epoch = getEpoch(state)
    const number = epoch?.number ?? 0
    if (this.sentEpoch === number) return false
    if (getPriceVote(state, me)?.price === want) return false
    if (!epochWeights(state, epoch).some(([peer]) => peer === me)) return false
    this.sentEpoch = number
    try {
      chain.sendTx('PriceVote', { price: want })
      log.info({ price: want.toString(), epoch: number }, 'price vote sent')
      return true
    } catch (err) {
      log.warn({ err: (err as Error).message, epoch: number }, 'cannot send the price vote; next epoch again')
      return false
    }
  }
}
