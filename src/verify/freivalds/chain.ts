import type { Int8Activation, Int8Glue, Int8Norm } from '../../engine/index.js'
import { FreivaldsError } from './errors.js'

/**
 * The chain check (issue 13, item 4; docs/verification.md, "The chain between products"): at one
 * position t, every product's committed input must follow from the committed outputs before it
 * through the model's float glue (embedding, norms, activation, residual adds, requantization), so
 * a host cannot skip a layer or feed a product inputs that did not come from the previous one.
 * Freivalds' check binds each product's output to its input; this binds each input to the outputs
 * before it. Pure: the glue comes from `loadInt8Weights` (src/engine/llm/int8Weights.ts).
 *
 * The float glue is recomputed in float32 as onnxruntime's CPU kernels compute it (every step
 * rounded with `Math.fround`; norms summed in order in float32, as its LayerNormalization kernel
 * does). Where another machine's float glue may round differently a requantized integer may be off
 * by one: allowed, and counted.
 */

/** What the chain needs of a model: its glue and its weight scales (an `Int8Weights` serves). */
export interface ChainModel {
  glue: Int8Glue
  /** s_w of a product: N float32 scales. */
  weightScale(layer: number, projection: number): Float32Array
}

/** A product as the commitment lists it (an `AuditProduct` serves). */
export interface ChainProduct {
  name: string
  layer: number
  projection: number
  inner: number
  cols: number
}

/** One product's committed row at the position: K int8 inputs, N int32 outputs, the input scale. */
export interface ChainRow {
  x: Int8Array
  y: Int32Array
  scale: number
}

export interface ChainInput {
  /** t: the row, which is the token's position in the sequence (position id). */
  position: number
  /** The token fed at t (prompt token, or the output token before it). */
  token: number
  /** Every product's row at t, by product index (a Map of openings, or an array). */
  rows: ReadonlyMap<number, ChainRow> | readonly ChainRow[]
}

/**
 * Why a position's chain fails (the executor's fault, each):
 * - `INPUT_MISMATCH`: a committed input integer differs by more than 1 from the requantized glue;
 * - `SCALE_MISMATCH`: a committed input scale differs from the recomputed one beyond the tolerance;
 * - `NOT_QUANTIZED`: a committed row the glue cannot recompute (attention's output) is not a
 *   per-row quantization: no element at ±levels, or a scale that is not positive and finite.
 */
export type ChainFailure = 'INPUT_MISMATCH' | 'SCALE_MISMATCH' | 'NOT_QUANTIZED'

export interface ChainPass {
  ok: true
  /** Committed input integers compared with the recomputed ones. */
  checked: number
  /** Of those, how many differ by exactly 1 (allowed). */
  offByOne: number
  /** The head's dequantized output at t: the logits that pick the token at t + 1. */
  logits: Float32Array
}

export interface ChainFail {
  ok: false
  code: ChainFailure
  /** The product whose input does not follow (its name, e.g. `audit/2/c_attn`). */
  product: string
  position: number
  /** The input element, or null for a whole-row failure (a scale). */
  element: number | null
  /** What the verifier recomputed. */
  expected: number
  /** What the executor committed. */
  actual: number
  /** The failure in words. */
  why: string
}

export type ChainResult = ChainPass | ChainFail

/** Relative tolerance of a recomputed input scale against the committed one (float glue of another machine). */
export const CHAIN_SCALE_TOLERANCE = 1e-5

const f = Math.fround

/** Thrown inside the walk to stop at the first failure; never escapes `checkChain`. */
class Stop {
  constructor(readonly fail: ChainFail) {}
}

/**
 * Checks the chain at one position. Returns a pass with the count of compared and of off-by-one
 * integers and the recomputed logits, or the first failure. Throws `FreivaldsError` `BAD_ARGUMENT`
 * for the caller's mistakes: products that are not the model's, a missing row or one of the wrong
 * shape (the opening's check refuses those first), a token or position out of range.
 */
export function checkChain(
  model: ChainModel,
  products: readonly ChainProduct[],
  input: ChainInput,
  tolerance = CHAIN_SCALE_TOLERANCE,
): ChainResult {
  const { glue } = model
  const { position: t, token } = input
  const bad = (why: string): FreivaldsError => new FreivaldsError('BAD_ARGUMENT', `chain: ${why}`)
  if (products.length !== glue.biases.length)
    throw bad(`${products.length} products for a model of ${glue.biases.length}`)
  if (!Number.isSafeInteger(token) || token < 0 || token >= glue.vocab) throw bad(`token ${token}`)
  const limit = glue.positionEmbedding === null ? 2 ** 32 : glue.positions
  if (!Number.isSafeInteger(t) || t < 0 || t >= limit) throw bad(`position ${t}`)
  const rows = input.rows
  const row = (i: number): ChainRow => {
    const r = 'get' in rows ? rows.get(i) : rows[i]
    const p = products[i]!
    if (r === undefined || r.x.length !== p.inner || r.y.length !== p.cols)
      throw bad(`no ${p.inner}→${p.cols} row of ${p.name} at ${t}`)
    return r
  }
  const { floor, levels } = glue.quantization
  let checked = 0
  let offByOne = 0
  const fail = (
    i: number,
    code: ChainFailure,
    element: number | null,
    expected: number,
    actual: number,
  ): Stop => {
    const what = element === null ? 'scale' : `x[${element}]`
    const why =
      code === 'NOT_QUANTIZED'
        ? `${products[i]!.name} at ${t}: the committed row is no per-row quantization (max |x| ${actual} where ${expected} is due, scale ${row(i).scale})`
        : `${products[i]!.name} at ${t}: ${what} is ${actual}, the glue from the products before gives ${expected}`
    return new Stop({
      ok: false,
      code,
      product: products[i]!.name,
      position: t,
      element,
      expected,
      actual,
      why,
    })
  }

  /** Requantizes `v` as the export does and compares it with product i's committed x and scale; returns the recomputed s_x. */
  const follows = (v: Float32Array, i: number): number => {
    const r = row(i)
    if (v.length !== r.x.length)
      throw bad(`${products[i]!.name} reads ${r.x.length}, the glue gives ${v.length}`)
    let absmax = 0
    for (const e of v) absmax = Math.max(absmax, Math.abs(e))
    const s = f(Math.max(absmax, floor) / levels)
    if (!(Math.abs(s - r.scale) <= tolerance * s)) throw fail(i, 'SCALE_MISMATCH', null, s, r.scale)
    for (let k = 0; k < v.length; k++) {
      const q = Math.max(-levels, Math.min(levels, roundEven(f(v[k]! / s))))
      const d = Math.abs(q - r.x[k]!)
      // Written so that a NaN fails too.
      if (!(d <= 1)) throw fail(i, 'INPUT_MISMATCH', k, q, r.x[k]!)
      offByOne += d
    }
    checked += v.length
    return s
  }

  /** Product i's float output from its committed y, with input scale `s`: y · s · s_w (+ bias). */
  const output = (i: number, s: number): Float32Array => {
    const { y } = row(i)
    const p = products[i]!
    const sw = model.weightScale(p.layer, p.projection)
    const bias = glue.biases[i]
    if (sw.length !== y.length || (bias !== null && bias !== undefined && bias.length !== y.length))
      throw bad(`${p.name}: ${sw.length} weight scales for ${y.length} outputs`)
    const out = new Float32Array(y.length)
    for (let n = 0; n < y.length; n++) {
      const v = f(f(f(y[n]!) * s) * sw[n]!)
      out[n] = bias === null || bias === undefined ? v : f(bias[n]! + v)
    }
    return out
  }

  /** The committed scale of a row the glue cannot recompute, after checking the row is a quantization at all. */
  const given = (i: number): number => {
    const r = row(i)
    let max = 0
    for (const e of r.x) max = Math.max(max, Math.abs(e))
    const zero = max === 0 && r.scale === f(floor / levels)
    if (!(Number.isFinite(r.scale) && r.scale > 0 && (max === levels || zero)))
      throw fail(i, 'NOT_QUANTIZED', null, levels, max)
    return r.scale
  }

  try {
    const d = glue.hidden
    let h: Float32Array = glue.tokenEmbedding.slice(token * d, (token + 1) * d)
    if (glue.positionEmbedding !== null) {
      const pos = glue.positionEmbedding.subarray(t * d, (t + 1) * d)
      for (let k = 0; k < d; k++) h[k] = f(h[k]! + pos[k]!)
    }
    const scales = new Map<number, number>()
    for (const b of glue.blocks) {
      const a = norm(b.attnNorm, h)
      for (const i of b.attnIn) follows(a, i)
      // Attention's output needs every earlier position's keys and values: taken as committed.
      h = add(h, output(b.attnOut, given(b.attnOut)))
      const m = norm(b.mlpNorm, h)
      for (const i of b.mlpIn) scales.set(i, follows(m, i))
      const act = activate(b.activation, (i) => output(i, scales.get(i)!))
      h = add(h, output(b.mlpOut, follows(act, b.mlpOut)))
    }
    const logits = output(glue.head, follows(norm(glue.finalNorm, h), glue.head))
    return { ok: true, checked, offByOne, logits }
  } catch (err) {
    if (err instanceof Stop) return err.fail
    throw err
  }
}

/** Round half to even, as ONNX Round does. */
function roundEven(v: number): number {
  const r = Math.round(v)
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r
}

function add(h: Float32Array, o: Float32Array): Float32Array {
  const out = new Float32Array(h.length)
  for (let k = 0; k < h.length; k++) out[k] = f(h[k]! + o[k]!)
  return out
}

/**
 * A norm as onnxruntime 1.30's CPU kernel computes it, as closely as measured (docs/verification.md,
 * "The chain between products"): mean and mean square summed in float64, the inverse deviation
 * rounded to float32, and `(x − mean)·inv·w + b` with its last multiply-add fused (one rounding).
 * Not bit-exact: about 9 in 10 outputs agree to the bit, the rest by an ulp, which the integer
 * comparison's ±1 and the scale's tolerance absorb.
 */
function norm(n: Int8Norm, h: Float32Array): Float32Array {
  const d = h.length
  let sum = 0
  let squares = 0
  for (const v of h) {
    sum += v
    squares += v * v
  }
  const mean = sum / d
  const out = new Float32Array(d)
  if (n.kind === 'rms') {
    const inv = f(1 / f(Math.sqrt(squares / d + f(n.epsilon))))
    for (let k = 0; k < d; k++) out[k] = f(f(h[k]! * inv) * n.weight[k]!)
    return out
  }
  const m = f(mean)
  const inv = f(1 / f(Math.sqrt(squares / d - mean * mean + f(n.epsilon))))
  for (let k = 0; k < d; k++) out[k] = f(f(f(h[k]! - m) * inv) * n.weight[k]! + (n.bias?.[k] ?? 0))
  return out
}

/** The MLP's activation over the float outputs of its first products, in the graph's order of operations. */
function activate(a: Int8Activation, out: (product: number) => Float32Array): Float32Array {
  if (a.kind === 'silu_mul') {
    const g = out(a.gate)
    const u = out(a.up)
    return g.map((v, k) => f(f(v * f(1 / f(1 + f(Math.exp(-v))))) * u[k]!))
  }
  const u = out(a.input)
  if (a.kind === 'gelu_erf') return u.map((v) => f(f(v * f(1 + f(erf(f(v / a.sqrt2))))) * 0.5))
  const c1 = f(a.cubic)
  const c2 = f(a.scale)
  return u.map((v) => {
    const inner = f(c2 * f(v + f(c1 * f(v * f(v * v)))))
    return f(0.5 * f(v * f(1 + f(Math.tanh(inner)))))
  })
}

/** erf to about 1e-7 absolute (Abramowitz and Stegun 7.1.26), below float32's resolution near 1. */
function erf(x: number): number {
  const s = Math.sign(x)
  const a = Math.abs(x)
  const t = 1 / (1 + 0.3275911 * a)
  const p = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
  return s * (1 - p * Math.exp(-a * a))
}
