import type { RaceProfile } from './profile.js'
import type { RaceWeights } from './weights.js'
import { centreAndNormalize, inputSeed, tokensAndPermutation, targetVector } from './seeds.js'
import { threshold } from './threshold.js'

const EPS = 1e-5

/**
 * The Race function's reference implementation, the definition every backend must match
 * (docs/race-function.md): a pre-norm decoder-only transformer over the nonce's S tokens, in
 * float64 arithmetic over float32 weights. Slow; backends reproduce it within the tolerance.
 */
export class RaceReference {
  readonly tau: number
  readonly target: Float64Array

  constructor(
    readonly profile: RaceProfile,
    readonly weights: RaceWeights,
    readonly seed: Uint8Array,
  ) {
    this.tau = threshold(profile)
    this.target = targetVector(seed, profile.vocab)
  }

  /** The last position's logits for these tokens (length V). */
  logits(tokens: Int32Array): Float64Array {
    const { width: d, heads: h, ffn: f, seqLen: S, vocab: V } = this.profile
    const dh = d / h
    const x = new Float64Array(S * d)
    for (let i = 0; i < S; i++)
      for (let j = 0; j < d; j++) x[i * d + j] = this.weights.embedding[tokens[i]! * d + j]!
    for (const w of this.weights.layers) {
      const a = rmsnormRows(x, S, d)
      const q = matmul(a, S, d, w.wq, d)
      const k = matmul(a, S, d, w.wk, d)
      const v = matmul(a, S, d, w.wv, d)
      const heads = new Float64Array(S * d)
      for (let hh = 0; hh < h; hh++) {
        const off = hh * dh
        for (let i = 0; i < S; i++) {
          // Causal softmax over positions 0..i.
          const scores = new Float64Array(i + 1)
          let max = -Infinity
          for (let j = 0; j <= i; j++) {
            let s = 0
            for (let c = 0; c < dh; c++) s += q[i * d + off + c]! * k[j * d + off + c]!
            s /= Math.sqrt(dh)
            scores[j] = s
            if (s > max) max = s
          }
          let z = 0
          for (let j = 0; j <= i; j++) z += scores[j] = Math.exp(scores[j]! - max)
          for (let c = 0; c < dh; c++) {
            let acc = 0
            for (let j = 0; j <= i; j++) acc += (scores[j]! / z) * v[j * d + off + c]!
            heads[i * d + off + c] = acc
          }
        }
      }
      addInto(x, matmul(heads, S, d, w.wo, d))
      const b = rmsnormRows(x, S, d)
      const hidden = matmul(b, S, d, w.w1, f)
      for (let i = 0; i < hidden.length; i++) if (hidden[i]! < 0) hidden[i] = 0
      addInto(x, matmul(hidden, S, f, w.w2, d))
    }
    const last = rmsnormRows(x.subarray((S - 1) * d), 1, d)
    return matmul(last, 1, d, this.weights.output, V)
  }

  /** Distance of nonce `n` of the node with seed `node`. */
  distance(node: Uint8Array, nonce: number): number {
    const { tokens, perm } = tokensAndPermutation(
      inputSeed(this.seed, node, nonce),
      this.profile.seqLen,
      this.profile.vocab,
    )
    return distanceFromLogits(this.logits(tokens), perm, this.target)
  }
}

/** Permute (y_i = logits[perm[i]]), centre, normalize, and measure the distance to the target. */
export function distanceFromLogits(
  logits: ArrayLike<number>,
  perm: Int32Array,
  target: Float64Array,
): number {
  const y = new Float64Array(perm.length)
  for (let i = 0; i < perm.length; i++) y[i] = logits[perm[i]!]!
  centreAndNormalize(y)
  let s = 0
  for (let i = 0; i < y.length; i++) s += (y[i]! - target[i]!) ** 2
  return Math.sqrt(s)
}

function rmsnormRows(x: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols)
  for (let i = 0; i < rows; i++) {
    let ms = 0
    for (let j = 0; j < cols; j++) ms += x[i * cols + j]! ** 2
    const r = 1 / Math.sqrt(ms / cols + EPS)
    for (let j = 0; j < cols; j++) out[i * cols + j] = x[i * cols + j]! * r
  }
  return out
}

function matmul(a: Float64Array, rows: number, inner: number, w: Float32Array, cols: number): Float64Array {
  const out = new Float64Array(rows * cols)
  for (let i = 0; i < rows; i++) {
    for (let k = 0; k < inner; k++) {
      const aik = a[i * inner + k]!
      if (aik === 0) continue
      const wrow = k * cols
      const orow = i * cols
      for (let j = 0; j < cols; j++) out[orow + j] = out[orow + j]! + aik * w[wrow + j]!
    }
  }
  return out
}

function addInto(x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < x.length; i++) x[i]! += y[i]!
}
