import { taggedHash, u64 } from './crypto.js'

/** A peer with its weight in a draw. */
export type Weighted = [peer: string, weight: number]

/**
 * A weighted draw without replacement: draw k (k = 0, 1, ...) picks among the peers not drawn yet,
 * in proportion to weight, with `H(tag, key ‖ seed ‖ u64(k))` read as a big-endian integer modulo
 * the remaining weight, walking `peers` in the order given (callers sort them by id). Anyone with
 * the same inputs gets the same order: task routing and proof committees use it. `limit` stops the
 * draw after that many (a committee needs only its first few, not the whole order).
 */
export function weightedOrder(
  tag: string,
  peers: readonly Weighted[],
  key: Uint8Array,
  seed: Uint8Array,
  limit = Infinity,
): string[] {
  const left = peers.filter(([, w]) => w > 0)
  const order: string[] = []
  for (let k = 0; left.length > 0 && order.length < limit; k++) {
    const total = left.reduce((sum, [, w]) => sum + BigInt(w), 0n)
    const h = taggedHash(tag, key, seed, u64(k))
    let r = BigInt('0x' + Buffer.from(h).toString('hex')) % total
    let i = 0
    while (r >= BigInt(left[i]![1])) r -= BigInt(left[i++]![1])
    order.push(left[i]![0])
    left.splice(i, 1)
  }
  return order
}
