import type { Overlay, StateReader } from '../state/state.js'
import { getInferenceParams } from '../task/access.js'
import { getPriceVote, putUnitPrice } from './access.js'
import { weightedMedian } from './median.js'

/** One weighted peer's part in the price tally. */
export interface PriceTallyEntry {
  peer: string
  weight: number
  /** Its recorded vote, or the price in force when it never voted. */
  price: bigint
  /** True for a recorded PriceVote; false when the peer never voted and counts with the price in force. */
  recorded: boolean
}

export interface PriceTally {
  /** The unit price in force, base units per unit of compute. */
  current: bigint
  /** Every peer with weight, sorted as `weights` is (by peer id from epochWeights). */
  votes: PriceTallyEntry[]
  /** The weighted median of `votes`: the next epoch's price (the current one when nobody has weight). */
  next: bigint
}

/**
 * SPEC 7 (seed 004, appendix J): the votes of the peers with weight in an epoch, each with its
 * last PriceVote or, if it never voted, the price in force (the last epoch's price, or the genesis
 * price before the first settlement), and their weighted median. Undefined on a chain that takes
 * no tasks. `weights` are the epoch's (epochWeights): peers of weight 0 take no part.
 */
export function priceTally(
  s: StateReader,
  weights: ReadonlyArray<readonly [string, number]>,
): PriceTally | undefined {
  const params = getInferenceParams(s)
  if (params === undefined) return undefined
  const current = params.unitPrice
  const votes = weights
    .filter(([, w]) => w > 0)
    .map(([peer, weight]): PriceTallyEntry => {
      const v = getPriceVote(s, peer)
      return { peer, weight, price: v?.price ?? current, recorded: v !== undefined }
    })
  const next = weightedMedian(votes.map((v) => [v.price, v.weight])) ?? current
  return { current, votes, next }
}

/**
 * At an epoch's end (its activation), the weighted median of the votes of the peers with weight
 * in the epoch that ends becomes the unit price of the next one. Returns the new price (undefined
 * on a chain that takes no tasks). Tasks already open keep the price they were opened at
 * (TaskRecord.unitPrice).
 */
export function settlePrice(
  s: Overlay,
  weights: ReadonlyArray<readonly [string, number]>,
): bigint | undefined {
  const tally = priceTally(s, weights)
  if (tally === undefined) return undefined
  putUnitPrice(s, tally.next)
  return tally.next
}
