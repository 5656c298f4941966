import { decode as cborDecode } from 'cborg'
import {
  type Rng,
  randomBytes,
  rawCbor,
  cborValue,
  encodeOrUndefined,
  mutateValue,
  mutateBytes,
  concat,
  BOUNDARY_SIZES,
  weirdString,
} from './gen.js'

/**
 * One generated input for a decoder whose valid encodings are `seeds`: random bytes, raw CBOR, a
 * canonical CBOR value, a seed with one field changed or with bytes changed, or a size at the limit.
 */
export function generate(rng: Rng, seeds: Uint8Array[], maxBytes: number, donors: Uint8Array[]): Uint8Array {
  const r = rng.int(100)
  if (r < 10) return randomBytes(rng, 256)
  if (r < 25) return rawCbor(rng)
  if (r < 35) return encodeOrUndefined(cborValue(rng)) ?? rawCbor(rng)
  if (r < 65) {
    const seed = rng.pick(seeds)
    return encodeOrUndefined(mutateValue(rng, cborDecode(seed), donors)) ?? mutateBytes(rng, seed, donors)
  }
  if (r < 90) return mutateBytes(rng, rng.pick(seeds), donors)
  // Boundary sizes: at, just over and far over the decoder's limit; padding a valid encoding.
  const seed = rng.pick(seeds)
  switch (rng.int(5)) {
    case 0:
      return new Uint8Array(0)
    case 1:
      return concat(seed, new Uint8Array(rng.pick([1, 2, 9])))
    case 2: {
      const size = rng.pick([maxBytes, maxBytes + 1, maxBytes * 2 + 7])
      return concat(seed.subarray(0, 1), new Uint8Array(Math.max(0, size - 1)).fill(rng.int(256)))
    }
    case 3: {
      // A valid array head claiming the right arity, then an oversized byte string.
      const len = rng.pick(BOUNDARY_SIZES.filter((s) => s > 0)) + maxBytes
      return encodeOrUndefined([new Uint8Array(Math.min(len, maxBytes + 16)), weirdString(rng)]) ?? seed
    }
    default:
      return encodeOrUndefined(Array.from({ length: rng.pick([7, 64, 65, 1001]) }, () => seed)) ?? seed
  }
}
