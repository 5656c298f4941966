import { taggedHash } from '../ledger/crypto.js'
import { Stream } from './prng.js'

/** SPEC 1's tagged hash, `H(tag, x) = SHA-256(len(tag) ‖ tag ‖ x)`, as the Race names it. */
export const H = taggedHash

function u64be(n: number): Uint8Array {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigUint64(0, BigInt(n))
  return b
}

/** `H("cordex/race/weights", seed)`: the key of every weight stream. */
export function weightKey(seed: Uint8Array): Uint8Array {
  return H('cordex/race/weights', seed)
}

/** `nodeSeed = H("cordex/race/node", publicKey)` (the 32-byte Ed25519 key). */
export function nodeSeed(publicKey: Uint8Array): Uint8Array {
  return H('cordex/race/node', publicKey)
}

/** `inputSeed(n) = H("cordex/race/input", seed ‖ nodeSeed ‖ u64be(n))`. */
export function inputSeed(seed: Uint8Array, node: Uint8Array, nonce: number): Uint8Array {
  return H('cordex/race/input', seed, node, u64be(nonce))
}

/**
 * From an input seed: the S input tokens and the output permutation, read from stream 0 under the
 * input seed: words 0..S−1 give tokens `w mod V`; then Fisher–Yates over [0, V): for i = V−1 down
 * to 1, j = w mod (i + 1), swap(perm[i], perm[j]), starting from the identity.
 */
export function tokensAndPermutation(
  seed: Uint8Array,
  seqLen: number,
  vocab: number,
): { tokens: Int32Array; perm: Int32Array } {
  const s = new Stream(seed, 0)
  const w = s.words(seqLen + vocab - 1)
  const tokens = new Int32Array(seqLen)
  for (let i = 0; i < seqLen; i++) tokens[i] = w[i]! % vocab
  const perm = new Int32Array(vocab)
  for (let i = 0; i < vocab; i++) perm[i] = i
  let k = seqLen
  for (let i = vocab - 1; i >= 1; i--) {
    const j = w[k++]! % (i + 1)
    const t = perm[i]!
    perm[i] = perm[j]!
    perm[j] = t
  }
  return { tokens, perm }
}

/**
 * The target: V standard normals by Box–Muller from stream 0 under `H("cordex/race/target",
 * seed)` (pairs of words u1, u2 as uniforms in (0, 1): `((w >>> 8) + 0.5) / 2^24`; z = √(−2 ln u1)
 * · cos(2π u2) and √(−2 ln u1) · sin(2π u2)), centred and normalized, in float64.
 */
export function targetVector(seed: Uint8Array, vocab: number): Float64Array {
  const s = new Stream(H('cordex/race/target', seed), 0)
  const t = new Float64Array(vocab)
  for (let i = 0; i < vocab; i += 2) {
    const u1 = ((s.next() >>> 8) + 0.5) / 16777216
    const u2 = ((s.next() >>> 8) + 0.5) / 16777216
    const r = Math.sqrt(-2 * Math.log(u1))
    t[i] = r * Math.cos(2 * Math.PI * u2)
    if (i + 1 < vocab) t[i + 1] = r * Math.sin(2 * Math.PI * u2)
  }
  return centreAndNormalize(t)
}

export function centreAndNormalize(v: Float64Array): Float64Array {
  let mean = 0
  for (const x of v) mean += x
  mean /= v.length
  let norm = 0
  for (let i = 0; i < v.length; i++) {
    v[i]! -= mean
    norm += v[i]! * v[i]!
  }
  norm = Math.sqrt(norm)
  for (let i = 0; i < v.length; i++) v[i]! /= norm
  return v
}
