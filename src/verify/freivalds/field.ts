import { FreivaldsError } from './errors.js'

/**
 * The default audit prime, `2^31 − 1` (a Mersenne prime). Why this one:
 * - every product `int8 × element` is below 2^38, so a dot product of up to 2^15 of them sums
 *   exactly in a double (< 2^53) and needs one reduction at its end, not one per term;
 * - it exceeds `2^15·K` for every depth `K ≤ 2^15`, so two int32 outputs in the range an int8 GEMM
 *   can reach (`|y| ≤ 2^14·K`) that agree modulo p are equal: no error hides in a multiple of p;
 * - one round misses a wrong row with chance `1/p ≈ 4.66e-10`; docs/verification.md,
 *   "Freivalds audits (int8 tasks)", takes `k = 2` rounds (≈ 2.2e-19).
 */
export const P31 = 2147483647

/** Largest prime a field accepts: elements stay below 2^31, so products fit the splits below. */
export const MAX_PRIME = P31

/** Largest depth K and width N of an audited product: 2^15 (the exact-sum bound above). */
export const MAX_DIM = 32768

/** The prime field F_p, `p` prime, `2 ≤ p ≤ 2^31 − 1`; elements are numbers in [0, p). */
export class PrimeField {
  readonly p: number

  /** Throws `BAD_ARGUMENT` when `p` is not a prime in [2, 2^31 − 1]. */
  constructor(p: number = P31) {
    if (!Number.isSafeInteger(p) || p < 2 || p > MAX_PRIME || !isPrime(p))
      throw new FreivaldsError('BAD_ARGUMENT', `field: ${p} is not a prime in [2, 2^31 − 1]`)
    this.p = p
  }

  /** `a mod p` in [0, p) for any safe integer `a` (negative included). */
  reduce(a: number): number {
    const r = a % this.p
    return r < 0 ? r + this.p : r
  }

  /** `a·b mod p` for `a, b` in [0, p): `b` split in 16-bit halves so each partial is exact. */
  mul(a: number, b: number): number {
    const hi = Math.floor(b / 65536)
    const lo = b % 65536
    return this.reduce(this.reduce(a * hi) * 65536 + a * lo)
  }
}

/** Deterministic Miller–Rabin for n < 2^32 (bases 2, 7, 61 suffice there). */
export function isPrime(n: number): boolean {
  if (!Number.isSafeInteger(n) || n < 2) return false
  for (const small of [2, 3, 5, 7, 11, 13, 61]) {
    if (n === small) return true
    if (n % small === 0) return false
  }
  if (n >= 2 ** 32) throw new FreivaldsError('BAD_ARGUMENT', 'isPrime: only below 2^32')
  const N = BigInt(n)
  let d = N - 1n
  let s = 0
  while (d % 2n === 0n) {
    d /= 2n
    s++
  }
  for (const a of [2n, 7n, 61n]) {
    let x = powMod(a, d, N)
    if (x === 1n || x === N - 1n) continue
    let composite = true
    for (let i = 1; i < s; i++) {
      x = (x * x) % N
      if (x === N - 1n) {
        composite = false
        break
      }
    }
    if (composite) return false
  }
  return true
}

function powMod(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n
  let b = base % mod
  let e = exp
  while (e > 0n) {
    if (e & 1n) result = (result * b) % mod
    b = (b * b) % mod
    e >>= 1n
  }
  return result
}
