import onnxProto from 'onnx-proto'
import { EngineError } from './errors.js'

// The float glue between the audited products of an int8 export (issue 13, item 4), read by
// following the ONNX graph as torch exported it: which norm feeds which products, the activation
// between an MLP's products, the residual adds, the embeddings. A verifier recomputes this glue at
// the opened rows (src/verify/freivalds/chain.ts), so nothing here is guessed from names: every
// link is a node of the graph, and a graph of another shape is refused (MODEL_INVALID).

const { onnx } = onnxProto
type Node = onnxProto.onnx.INodeProto
type Tensor = onnxProto.onnx.ITensorProto

/**
 * A norm over the hidden vector, as onnxruntime's CPU kernel computes it (LayerNormalization, or
 * the RMS pattern it fuses into SimplifiedLayerNormalization): float32 throughout.
 */
export type Int8Norm =
  | { kind: 'layer'; weight: Float32Array; bias: Float32Array | null; epsilon: number }
  | { kind: 'rms'; weight: Float32Array; epsilon: number }

/** What turns an MLP's first product(s) into the input of its last (product indexes). */
export type Int8Activation =
  /** GPT-2's `gelu_new`: 0.5·u·(1 + tanh(scale·(u + cubic·u³))), in the graph's order of operations. */
  | { kind: 'gelu_tanh'; input: number; cubic: number; scale: number }
  /** `nn.GELU()`: 0.5·u·(1 + erf(u / sqrt2)). */
  | { kind: 'gelu_erf'; input: number; sqrt2: number }
  /** Llama: silu(gate)·up. */
  | { kind: 'silu_mul'; gate: number; up: number }

/** One block: h ← h + attn(norm1(h)); h ← h + mlp(norm2(h)). Numbers are product indexes. */
export interface Int8Block {
  attnNorm: Int8Norm
  /** The products reading attnNorm's output (GPT-2 c_attn; Llama q, k, v). */
  attnIn: number[]
  /** The product reading attention's output (attn_proj, o_proj): its input is not recomputable from one position. */
  attnOut: number
  mlpNorm: Int8Norm
  /** The products reading mlpNorm's output (GPT-2 c_fc; Llama gate, up). */
  mlpIn: number[]
  activation: Int8Activation
  /** The product reading the activation (mlp_proj, down_proj); its output is added to h. */
  mlpOut: number
}

/** The glue of a whole decoder. Embeddings are row-major [rows × hidden]. */
export interface Int8Glue {
  hidden: number
  vocab: number
  tokenEmbedding: Float32Array
  /** Rows of positionEmbedding (0 without one). */
  positions: number
  /** GPT-2's learned positions, added to the token's embedding; null for rotary models. */
  positionEmbedding: Float32Array | null
  blocks: Int8Block[]
  finalNorm: Int8Norm
  /** The vocabulary head's product index. */
  head: number
  /** Each product's float bias (added after dequantizing), or null. */
  biases: (Float32Array | null)[]
  /** The input quantization: s_x = max(max|x|, floor) / levels (the export's constants). */
  quantization: { floor: number; levels: number }
}

/** One audited product's place in the graph, from int8Weights.ts. */
export interface ProductWiring {
  name: string
  /** The block, or -1 for the head. */
  layer: number
  /** The float tensor it quantizes. */
  input: string
  /** Its dequantized float output, after its bias if it has one. */
  output: string
}

/** A graph the glue reader does not recognize. */
export const glueInvalid = (why: string): EngineError => new EngineError('MODEL_INVALID', `int8 glue: ${why}`)
const invalid = glueInvalid

/** Producers, consumers, initializers and constants of a graph, and the float values they hold. */
export class GraphView {
  private readonly producers = new Map<string, Node>()
  private readonly users = new Map<string, Node[]>()
  private readonly inits = new Map<string, Tensor>()

  constructor(graph: onnxProto.onnx.IGraphProto) {
    for (const t of graph.initializer ?? []) this.inits.set(t.name ?? '', t)
    for (const n of graph.node ?? []) {
      for (const o of n.output ?? []) this.producers.set(o, n)
      for (const i of n.input ?? []) this.users.set(i, [...(this.users.get(i) ?? []), n])
    }
  }

  producer(name: string, op?: string): Node | undefined {
    const n = this.producers.get(name)
    return op === undefined || n?.opType === op ? n : undefined
  }

  consumers(name: string): Node[] {
    return this.users.get(name) ?? []
  }

  init(name: string): Tensor | undefined {
    return this.inits.get(name)
  }

  /** A FLOAT initializer's or Constant's values, or undefined. */
  floats(name: string): Float32Array | undefined {
    const c = this.producer(name, 'Constant')
    const t = c === undefined ? this.inits.get(name) : c.attribute?.find((a) => a.name === 'value')?.t
    if (t?.dataType !== onnx.TensorProto.DataType.FLOAT) return undefined
    if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) throw invalid(`${name} is external data`)
    if (t.rawData !== undefined && t.rawData !== null && t.rawData.length > 0)
      return new Float32Array(Uint8Array.from(t.rawData).buffer)
    return Float32Array.from(t.floatData ?? [])
  }

  /** A one-element float constant or initializer, or undefined. */
  scalar(name: string): number | undefined {
    const v = this.floats(name)
    return v?.length === 1 ? v[0] : undefined
  }
}

/** The two inputs of a binary node of type `op`, or undefined. */
function operands(g: GraphView, name: string, op: string): [string, string] | undefined {
  const n = g.producer(name, op)
  const [a, b] = n?.input ?? []
  return a !== undefined && b !== undefined ? [a, b] : undefined
}

/** For a commutative node `op(a, b)` producing `name` where `test(a)` or `test(b)`: [the match, the other]. */
function either<T>(
  g: GraphView,
  name: string,
  op: string,
  test: (s: string) => T | undefined,
): [T, string] | undefined {
  const ab = operands(g, name, op)
  if (ab === undefined) return undefined
  const [a, b] = ab
  const ta = test(a)
  if (ta !== undefined) return [ta, b]
  const tb = test(b)
  return tb !== undefined ? [tb, a] : undefined
}

const attrFloat = (n: Node, name: string, fallback: number): number => {
  const a = n.attribute?.find((x) => x.name === name)
  return a?.f ?? fallback
}

/** The norm producing `x` and the tensor it normalizes, or undefined. */
export function matchNorm(
  g: GraphView,
  x: string,
  hidden: number,
): { norm: Int8Norm; from: string } | undefined {
  const weightOf = (s: string): Float32Array | undefined => {
    const v = g.init(s) === undefined ? undefined : g.floats(s)
    return v?.length === hidden ? v : undefined
  }
  const ln = g.producer(x, 'LayerNormalization')
  if (ln !== undefined) {
    const [from, w, b] = ln.input ?? []
    const weight = weightOf(w ?? '')
    const bias = b === undefined || b === '' ? null : weightOf(b)
    const axis = Number(ln.attribute?.find((a) => a.name === 'axis')?.i ?? -1)
    if (from === undefined || weight === undefined || bias === undefined || axis !== -1) return undefined
    return { norm: { kind: 'layer', weight, bias, epsilon: attrFloat(ln, 'epsilon', 1e-5) }, from }
  }
  // torch's RMSNorm: weight · (h · 1/sqrt(mean(h²) + eps)).
  const scaled = either(g, x, 'Mul', weightOf)
  if (scaled === undefined) return undefined
  const [weight, normed] = scaled
  const inv = either(g, normed, 'Mul', (s) => {
    const div = operands(g, s, 'Div')
    return div !== undefined && g.scalar(div[0]) === 1 ? div[1] : undefined
  })
  if (inv === undefined) return undefined
  const [sqrtOut, from] = inv
  const sqrt = g.producer(sqrtOut, 'Sqrt')?.input?.[0] ?? ''
  const add = either(g, sqrt, 'Add', (s) => g.scalar(s))
  if (add === undefined) return undefined
  const [epsilon, meanOut] = add
  const mean = g.producer(meanOut, 'ReduceMean')
  const squareOut = mean?.input?.[0] ?? ''
  const pow = operands(g, squareOut, 'Pow')
  const square = pow !== undefined && pow[0] === from && g.scalar(pow[1]) === 2
  const axes = mean?.attribute?.find((a) => a.name === 'axes')?.ints?.map(Number) ?? []
  if (!square || axes.length !== 1 || axes[0] !== -1) return undefined
  return { norm: { kind: 'rms', weight, epsilon }, from }
}

/**
 * The activation producing `x` from the outputs of products (`outputs`: tensor → product index),
 * or undefined: GPT-2's tanh GELU, the erf GELU, or Llama's silu(gate)·up.
 */
export function matchActivation(
  g: GraphView,
  x: string,
  outputs: Map<string, number>,
): Int8Activation | undefined {
  const product = (s: string): number | undefined => outputs.get(s)
  // silu(gate)·up = Mul(Mul(gate, Sigmoid(gate)), up)
  const silu = either(g, x, 'Mul', (s) => {
    const m = either(g, s, 'Mul', (t) => (g.producer(t, 'Sigmoid') !== undefined ? t : undefined))
    return m !== undefined && g.producer(m[0])?.input?.[0] === m[1] ? product(m[1]) : undefined
  })
  if (silu !== undefined) {
    const up = product(silu[1])
    return up === undefined ? undefined : { kind: 'silu_mul', gate: silu[0], up }
  }
  // 0.5 · (u · (1 + tanh(c2 · (u + c1 · (u · (u · u))))))   or   (u · (1 + erf(u / sqrt2))) · 0.5
  const half = either(g, x, 'Mul', (s) => (g.scalar(s) === 0.5 ? s : undefined))
  if (half === undefined) return undefined
  const outer = operands(g, half[1], 'Mul')
  if (outer === undefined) return undefined
  for (const [u, onePlus] of [outer, [outer[1], outer[0]] as [string, string]]) {
    const input = product(u)
    const inner = either(g, onePlus, 'Add', (s) => (g.scalar(s) === 1 ? s : undefined))
    if (input === undefined || inner === undefined) continue
    const tanh = g.producer(inner[1], 'Tanh')?.input?.[0]
    const erf = g.producer(inner[1], 'Erf')?.input?.[0]
    if (erf !== undefined) {
      const div = operands(g, erf, 'Div')
      const sqrt2 = div?.[0] === u ? g.scalar(div[1]) : undefined
      if (sqrt2 !== undefined) return { kind: 'gelu_erf', input, sqrt2 }
    }
    if (tanh === undefined) continue
    const scaled = either(g, tanh, 'Mul', (s) => g.scalar(s))
    const sum = scaled === undefined ? undefined : operands(g, scaled[1], 'Add')
    if (scaled === undefined || sum === undefined) continue
    const cubicTerm = sum[0] === u ? sum[1] : sum[1] === u ? sum[0] : undefined
    const cubic = cubicTerm === undefined ? undefined : either(g, cubicTerm, 'Mul', (s) => g.scalar(s))
    const cube = cubic === undefined ? undefined : operands(g, cubic[1], 'Mul')
    const square = cube === undefined ? undefined : operands(g, cube[0] === u ? cube[1] : cube[0], 'Mul')
    if (cubic !== undefined && square?.[0] === u && square[1] === u && (cube?.[0] === u || cube?.[1] === u))
      return { kind: 'gelu_tanh', input, cubic: cubic[0], scale: scaled[0] }
  }
  return undefined
}

/** Whether `x` is attention's output: reshapes and transposes of MatMul(Softmax(·), values). */
export function isAttention(g: GraphView, x: string): boolean {
  let name = x
  for (let i = 0; i < 4; i++) {
    const n = g.producer(name)
    if (n?.opType === 'MatMul') return g.producer(n.input?.[0] ?? '', 'Softmax') !== undefined
    if (n?.opType !== 'Reshape' && n?.opType !== 'Transpose') return false
    name = n.input?.[0] ?? ''
  }
  return false
}

/** The residual add of `h` and `out` (either order), or undefined. */
export function residual(g: GraphView, h: string, out: string): string | undefined {
  const add = g.consumers(out).find((n) => n.opType === 'Add' && n.input?.length === 2 && n.input.includes(h))
  return add?.output?.[0]
}
