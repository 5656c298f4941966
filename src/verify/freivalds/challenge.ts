import { createCipheriv, createHash } from 'node:crypto'
import { FreivaldsError } from './errors.js'
import { layout, type ProductShape } from './commitment.js'
import type { PrimeField } from './field.js'

/**
 * The challenge to a committed task (SPEC 6.2): which products, which rows of each, and the `k`
 * vectors `r` of each, all drawn from one deterministic stream keyed by the verifier's randomness
 * and the task's root. The randomness exists only after the root (the verifier's epoch key is
 * revealed after the epoch), so the executor cannot aim at it; anyone holding both recomputes the
 * same challenge, so a verdict can be rechecked afterwards.
 *
 * Stream: AES-256-CTR with key `H("cordex/freivalds/challenge", u32(len(randomness)) ‖ randomness ‖
 * root)`, IV zero, over zero bytes; read as big-endian u32 words. A draw below `n` masks a word to
 * the next power of two and rejects values ≥ n (uniform, no modulo bias). Order of draws: the
 * product subset (Floyd's algorithm), then per chosen product in ascending order its row subset
 * (independent per product unless `shareRows`), then its `k` vectors, element by element.
 */

/** How much to audit of a task. */
export interface AuditParams {
  /** a: products audited per task (all when there are fewer). */
  products: number
  /** m: rows opened per audited product (all when there are fewer). */
  rows: number
  /** k: independent vectors `r` per product. */
  rounds: number
  /** Open the same positions in every audited product (what a check of the float glue between consecutive products needs); default false. */
  shareRows?: boolean
}

/** One audited product's challenge. */
export interface ProductChallenge {
  /** Index in the committed shape list. */
  product: number
  /** Rows to open, ascending. */
  rows: number[]
  /** `k` vectors in [0, p)^N. */
  r: Float64Array[]
}

const TAG = 'cordex/freivalds/challenge'
const CHUNK = 65536

/** Derives the challenge; throws `BAD_ARGUMENT` for empty randomness, a bad root or bad params. */
export function deriveChallenge(
  randomness: Uint8Array,
  root: Uint8Array,
  shapes: readonly ProductShape[],
  params: AuditParams,
  field: PrimeField,
): ProductChallenge[] {
  layout(shapes)
  if (!(randomness instanceof Uint8Array) || randomness.length < 16)
    throw new FreivaldsError('BAD_ARGUMENT', 'challenge: randomness shorter than 16 bytes')
  if (!(root instanceof Uint8Array) || root.length !== 32)
    throw new FreivaldsError('BAD_ARGUMENT', 'challenge: root is not 32 bytes')
  for (const v of [params.products, params.rows, params.rounds])
    if (!Number.isSafeInteger(v) || v < 1)
      throw new FreivaldsError('BAD_ARGUMENT', `challenge: parameter ${v} < 1`)
  const stream = new WordStream(randomness, root)
  const chosen = subset(stream, shapes.length, params.products)
  let shared: number[] | undefined
  return chosen.map((product) => {
    const s = shapes[product]!
    let rows: number[]
    if (params.shareRows === true) {
      // Shared positions need every product to have the same T (one task: same token count).
      shared ??= subset(stream, s.rows, params.rows)
      if (shared.some((row) => row >= s.rows))
        throw new FreivaldsError('BAD_ARGUMENT', 'challenge: shareRows over products of different T')
      rows = shared
    } else rows = subset(stream, s.rows, params.rows)
    const r: Float64Array[] = []
    for (let k = 0; k < params.rounds; k++) {
      const v = new Float64Array(s.cols)
      for (let n = 0; n < s.cols; n++) v[n] = stream.below(field.p)
      r.push(v)
    }
    return { product, rows, r }
  })
}

/** `min(m, n)` distinct integers in [0, n), uniform among subsets, ascending (Floyd's algorithm). */
function subset(stream: WordStream, n: number, m: number): number[] {
  const take = Math.min(m, n)
  const picked = new Set<number>()
  for (let j = n - take; j < n; j++) {
    const t = stream.below(j + 1)
    picked.add(picked.has(t) ? j : t)
  }
  return [...picked].sort((a, b) => a - b)
}

/** The AES-CTR word stream. */
class WordStream {
  private readonly cipher
  private block = new Uint8Array(0)
  private at = 0

  constructor(randomness: Uint8Array, root: Uint8Array) {
    const t = Buffer.from(TAG, 'ascii')
    const len = new Uint8Array(4)
    new DataView(len.buffer).setUint32(0, randomness.length)
    const key = createHash('sha256')
      .update(Uint8Array.of(t.length))
      .update(t)
      .update(len)
      .update(randomness)
      .update(root)
      .digest()
    this.cipher = createCipheriv('aes-256-ctr', key, new Uint8Array(16))
  }

  word(): number {
    if (this.at + 4 > this.block.length) {
      this.block = new Uint8Array(this.cipher.update(new Uint8Array(CHUNK)))
      this.at = 0
    }
    const b = this.block
    const i = this.at
    this.at += 4
    return ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0
  }

  /** Uniform in [0, n), 1 ≤ n ≤ 2^32. */
  below(n: number): number {
    if (n === 1) return 0
    const bits = Math.ceil(Math.log2(n))
    const mask = bits >= 32 ? 0xffffffff : 2 ** bits - 1
    for (;;) {
      const v = (this.word() & mask) >>> 0
      if (v < n) return v
    }
  }
}
