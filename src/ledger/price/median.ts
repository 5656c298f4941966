/** One vote in a tally: a price (base units per unit of compute) and the voter's weight. */
export type WeightedPrice = readonly [price: bigint, weight: number]

/**
 * The weight-weighted lower median (SPEC 7): the smallest price `p` such that the votes at or
 * below `p` hold at least half of the total weight, `2 × W(≤ p) ≥ W`. Integer-only and
 * independent of the order of `votes`; votes of weight 0 (or less) are ignored. Undefined when no
 * vote has weight.
 *
 * Consequences (tested in test/unit/ledger/price.test.ts):
 * - the result is always one of the prices voted;
 * - with exactly half the weight on each side of a gap, the lower price wins (the client's side);
 * - a voter with at least half the weight sets the price alone (exactly half only when its price
 *   is the lower one);
 * - whatever a voter with less than half the weight votes, the result lies between two of the
 *   other votes with less than its weight of other votes strictly between them: it never leaves
 *   the range of the other votes, and with equal weights it moves by at most one rank.
 */
export function weightedMedian(votes: readonly WeightedPrice[]): bigint | undefined {
  const counted = votes.filter(([, w]) => w > 0)
  const total = counted.reduce((sum, [, w]) => sum + BigInt(w), 0n)
  if (total === 0n) return undefined
  const sorted = [...counted].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  let below = 0n
  for (const [price, w] of sorted) {
    below += BigInt(w)
    if (2n * below >= total) return price
  }
  // Unreachable: the last vote brings `below` to `total`.
  return sorted[sorted.length - 1]![0]
}
