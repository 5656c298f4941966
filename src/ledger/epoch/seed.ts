import { encode } from '../codec.js'
import { taggedHash, equalBytes } from '../crypto.js'

/** SPEC 4: what a committer posts: `H("cordex/race/commit", secret ‖ peerId)`. */
export function commitment(secret: Uint8Array, peerId: string): Uint8Array {
  return taggedHash('cordex/race/commit', secret, Buffer.from(peerId, 'utf8'))
}

export function revealMatches(secret: Uint8Array, peerId: string, committed: Uint8Array): boolean {
  return equalBytes(commitment(secret, peerId), committed)
}

/** SPEC 4: `seed_e = H("cordex/race/seed", seed_{e−1} ‖ valid (peerId, secret) pairs sorted by peerId)`. */
export function raceSeed(prevSeed: Uint8Array, reveals: ReadonlyArray<[string, Uint8Array]>): Uint8Array {
  const sorted = [...reveals].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  return taggedHash('cordex/race/seed', prevSeed, encode(sorted))
}

/** SPEC 4 fallback, when too few reveal: the previous seed with the hash of the closing block's parent. */
export function fallbackSeed(prevSeed: Uint8Array, parentHash: Uint8Array): Uint8Array {
  return taggedHash('cordex/race/fallback', prevSeed, parentHash)
}

/** The first seed of a chain. */
export function genesisRaceSeed(chainId: string): Uint8Array {
  return taggedHash('cordex/race/genesis', Buffer.from(chainId, 'utf8'))
}

/**
 * What a validator signs to draw its sample of a proof (its VRF input, SPEC 1 and 4.5): bound to
 * the proof's Merkle root, so the prover learns the sample only after committing to its list.
 */
export function sampleMessage(epoch: number, prover: string, root: Uint8Array): Uint8Array {
  return taggedHash('cordex/race/sample', encode([epoch, prover, root]))
}

/** `vrf = H("cordex/vrf", signature)`. */
export function vrfOutput(sig: Uint8Array): Uint8Array {
  return taggedHash('cordex/vrf', sig)
}

/**
 * The sample of a proof of `count` nonces that a VRF output selects: `size` distinct indices (all
 * of them when count ≤ size), drawn by hashing the output with a counter.
 */
export function sampleIndices(vrf: Uint8Array, count: number, size: number): number[] {
  if (count <= size) return Array.from({ length: count }, (_, i) => i)
  const chosen = new Set<number>()
  for (let i = 0; chosen.size < size; i++) {
    const h = taggedHash('cordex/race/sample/index', vrf, Uint8Array.of(i >>> 24, i >>> 16, i >>> 8, i))
    chosen.add(new DataView(h.buffer, h.byteOffset).getUint32(0) % count)
  }
  return [...chosen].sort((a, b) => a - b)
}
