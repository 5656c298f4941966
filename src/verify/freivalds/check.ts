import { FreivaldsError, type FreivaldsErrorMeta } from './errors.js'
import { MAX_DIM, type PrimeField } from './field.js'

/**
 * Freivalds' check of an integer product `Y = X·W` (X: T×K int8, W: K×N int8 held by the verifier,
 * Y: T×N int32, exact), row by row (SPEC 6.2): for a random `r ∈ F_p^N`, row `i` passes when
 * `x_i·(W r) ≡ y_i·r (mod p)`. `W r` costs K·N once per round; each row then costs K + N.
 *
 * Exactness in doubles: `|w|, |x| ≤ 2^7` and elements `< 2^31`, so every term is below 2^38 and a
 * sum of up to `MAX_DIM = 2^15` terms stays below 2^53 (one reduction per dot product). The
 * `y·r` side splits `r` in 16-bit halves and reduces every `Y_CHUNK` terms.
 */

/** One round's vector, prepared against one weight matrix. */
export interface Round {
  /** `r` in [0, p)^N. */
  r: Float64Array
  /** `W r mod p`, length K. */
  wr: Float64Array
  /** `⌊r / 2^16⌋` and `r mod 2^16`, for the exact `y·r`. */
  rHi: Float64Array
  rLo: Float64Array
}

/** Terms of `|y|·2^16 ≤ 2^47` (any int32 y) summed before a reduction: 2^5 of them stay below 2^53. */
const Y_CHUNK = 32

/** The largest `|y|` an int8 × int8 product of depth K reaches: `2^14·K` (|x|, |w| ≤ 128). */
export function outputBound(K: number): number {
  return 16384 * K
}

/** Checks a product's shape: 1 ≤ K, N ≤ MAX_DIM, W of K·N bytes. Throws `BAD_ARGUMENT`. */
export function checkShape(W: Int8Array, K: number, N: number): void {
  if (!Number.isSafeInteger(K) || !Number.isSafeInteger(N) || K < 1 || N < 1 || K > MAX_DIM || N > MAX_DIM)
    throw new FreivaldsError('BAD_ARGUMENT', `freivalds: shape ${K}×${N} outside 1..${MAX_DIM}`)
  if (W.length !== K * N)
    throw new FreivaldsError('BAD_ARGUMENT', `freivalds: W has ${W.length} bytes, not ${K}×${N}`)
}

/** Prepares one round: `W r mod p` (K·N multiply-adds) and the halves of `r`. */
export function prepareRound(field: PrimeField, W: Int8Array, K: number, N: number, r: Float64Array): Round {
  checkShape(W, K, N)
  const { rHi, rLo } = split(field, r, N)
  const p = field.p
  const wr = new Float64Array(K)
  for (let k = 0; k < K; k++) {
    const base = k * N
    let s = 0
    for (let n = 0; n < N; n++) s += W[base + n]! * r[n]!
    const m = s % p
    wr[k] = m < 0 ? m + p : m
  }
  return { r, wr, rHi, rLo }
}

/**
 * `W·D` for an int8 K×N `W` and an int8 N×`cols` `D` (row-major), as a K×`cols` int32 array,
 * exactly: how a verifier computes `W r` with a fast integer GEMM (onnxruntime's MatMulInteger in
 * the engine, asynchronously) instead of the JavaScript loop of `prepareRound`: `roundDigits`
 * gives `D`, the GEMM gives `V = W·D`, `roundsFromProjection` turns `V` into the rounds.
 */
export type Projector = (W: Int8Array, K: number, N: number, D: Int8Array, cols: number) => Int32Array

/** Base-128 digits per element: 5 × 7 bits ≥ 31 bits. Each digit is in [0, 127], an int8. */
export const DIGITS = 5

/**
 * The rounds' vectors as one int8 N×(`DIGITS`·k) matrix of base-128 digits, row-major: column
 * `i·DIGITS + b` holds digit `b` of `r_i`. `W·D` is exact in int32: `|Σ| ≤ 128·127·N < 2^29`.
 */
export function roundDigits(field: PrimeField, rs: readonly Float64Array[], N: number): Int8Array {
  const cols = DIGITS * rs.length
  const D = new Int8Array(N * cols)
  rs.forEach((r, i) => {
    split(field, r, N)
    for (let n = 0; n < N; n++) {
      let v = r[n]!
      for (let b = 0; b < DIGITS; b++) {
        D[n * cols + i * DIGITS + b] = v % 128
        v = Math.floor(v / 128)
      }
    }
  })
  return D
}

/**
 * The rounds from `V = W·roundDigits(rs)` (K×(`DIGITS`·k) int32): `W r_i = Σ_b V[·, i·DIGITS + b]·128^b
 * mod p` by Horner's rule. The same rounds as `prepareRound` gives for each `r_i`.
 */
export function roundsFromProjection(
  field: PrimeField,
  rs: readonly Float64Array[],
  V: Int32Array,
  K: number,
): Round[] {
  const cols = DIGITS * rs.length
  if (!(V instanceof Int32Array) || V.length !== K * cols)
    throw new FreivaldsError('BAD_ARGUMENT', `freivalds: projection has ${V.length} values, not ${K}×${cols}`)
  return rs.map((r, i) => {
    const wr = new Float64Array(K)
    for (let k = 0; k < K; k++) {
      let acc = 0
      for (let b = DIGITS - 1; b >= 0; b--) acc = field.reduce(acc * 128 + V[k * cols + i * DIGITS + b]!)
      wr[k] = acc
    }
    return { r, wr, ...split(field, r, r.length) }
  })
}

/** The reference `Projector`: plain loops. */
export const jsProjector: Projector = (W, K, N, D, cols) => {
  const V = new Int32Array(K * cols)
  for (let k = 0; k < K; k++) {
    for (let n = 0; n < N; n++) {
      const w = W[k * N + n]!
      if (w === 0) continue
      for (let c = 0; c < cols; c++) V[k * cols + c]! += w * D[n * cols + c]!
    }
  }
  return V
}

function split(field: PrimeField, r: Float64Array, N: number): { rHi: Float64Array; rLo: Float64Array } {
  const p = field.p
  if (r.length !== N)
    throw new FreivaldsError('BAD_ARGUMENT', `freivalds: r has ${r.length} entries, not ${N}`)
  const rHi = new Float64Array(N)
  const rLo = new Float64Array(N)
  for (let n = 0; n < N; n++) {
    const v = r[n]!
    if (!(v >= 0 && v < p && Number.isInteger(v)))
      throw new FreivaldsError('BAD_ARGUMENT', `freivalds: r[${n}] = ${v} is not an element of F_${p}`)
    rHi[n] = Math.floor(v / 65536)
    rLo[n] = v % 65536
  }
  return { rHi, rLo }
}

/**
 * True when row `(x, y)` passes `round`: `x·(W r) ≡ y·r (mod p)`, exactly, for any int8 `x` (K
 * entries) and int32 `y` (N entries). Alone it is not sound against outputs off by a multiple of
 * p: `checkRows` also bounds `|y_j| ≤ outputBound(K)`.
 */
export function rowPasses(field: PrimeField, round: Round, x: Int8Array, y: Int32Array): boolean {
  const p = field.p
  const { wr, rHi, rLo } = round
  const K = wr.length
  const N = rHi.length
  let left = 0
  for (let k = 0; k < K; k++) left += x[k]! * wr[k]!
  left = field.reduce(left)
  let hi = 0
  let lo = 0
  for (let n0 = 0; n0 < N; n0 += Y_CHUNK) {
    const end = Math.min(N, n0 + Y_CHUNK)
    for (let n = n0; n < end; n++) {
      const v = y[n]!
      hi += v * rHi[n]!
      lo += v * rLo[n]!
    }
    hi %= p
    lo %= p
  }
  const right = field.reduce(field.reduce(hi) * 65536 + lo)
  return left === right
}

/** One opened row of a product: its position and its committed integers. */
export interface ProductRow {
  row: number
  x: Int8Array
  y: Int32Array
}

/**
 * Checks opened rows against every round. Throws `BAD_ARGUMENT` for a row of the wrong length,
 * `OUT_OF_RANGE` for an output no int8 product of depth K reaches (an error hidden in a multiple
 * of p would be one), and `WRONG_PRODUCT` at the first row and round that fails.
 */
export function checkRows(
  field: PrimeField,
  rounds: readonly Round[],
  rows: readonly ProductRow[],
  meta: FreivaldsErrorMeta = {},
): void {
  const first = rounds[0]
  if (first === undefined) throw new FreivaldsError('BAD_ARGUMENT', 'freivalds: no rounds')
  const K = first.wr.length
  const N = first.r.length
  const bound = outputBound(K)
  for (const { row, x, y } of rows) {
    if (x.length !== K || y.length !== N)
      throw new FreivaldsError(
        'BAD_ARGUMENT',
        `freivalds: row ${row} is ${x.length}→${y.length}, not ${K}→${N}`,
        {
          ...meta,
          row,
        },
      )
    for (let n = 0; n < N; n++) {
      const v = y[n]!
      if (v > bound || v < -bound)
        throw new FreivaldsError(
          'OUT_OF_RANGE',
          `freivalds: row ${row} output ${n} = ${v} exceeds ±${bound}`,
          {
            ...meta,
            row,
          },
        )
    }
    for (let i = 0; i < rounds.length; i++) {
      if (!rowPasses(field, rounds[i]!, x, y))
        throw new FreivaldsError('WRONG_PRODUCT', `freivalds: row ${row} fails round ${i}`, {
          ...meta,
          row,
          round: i,
        })
    }
  }
}
