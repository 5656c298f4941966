import type { Overlay, StateReader } from '../state/state.js'
import { TaskKeys } from '../task/records.js'
import { getInferenceParams } from '../task/access.js'
import { PriceKeys, type PriceVoteRecord } from './records.js'

export function getPriceVote(s: StateReader, peer: string): PriceVoteRecord | undefined {
  return s.get(PriceKeys.priceVote(peer)) as PriceVoteRecord | undefined
}

export function putPriceVote(s: Overlay, peer: string, v: PriceVoteRecord): void {
  s.set(PriceKeys.priceVote(peer), { price: v.price, height: v.height })
}

/**
 * Set the unit price in force (InferenceParams.unitPrice), keeping every other inference
 * parameter as it is. Does nothing on a chain that takes no tasks.
 */
export function putUnitPrice(s: Overlay, price: bigint): void {
  const params = getInferenceParams(s)
  if (params === undefined || params.unitPrice === price) return
  s.set(TaskKeys.inference, { ...params, unitPrice: price })
}
