import onnxProto from 'onnx-proto'
import type { RaceProfile } from '../../race/index.js'

const { onnx } = onnxProto

const FLOAT = onnx.TensorProto.DataType.FLOAT
const INT64 = onnx.TensorProto.DataType.INT64

/** Names of the weight inputs, in the order RaceWeights lists them. */
export function weightInputNames(profile: RaceProfile): string[] {
  const names = ['embedding']
  for (let l = 0; l < profile.layers; l++)
    for (const w of ['wq', 'wk', 'wv', 'wo', 'w1', 'w2']) names.push(`l${l}.${w}`)
  names.push('output')
  return names
}

/**
 * The Race transformer as an ONNX graph (opset 17), built in code: input `tokens` int64 [B, S] and
 * every weight as a graph input (so that a model of any size stays a small file and the weights are
 * generated once, in memory); output `logits` float [B, V] at the last position. The arithmetic is
 * the reference's (docs/race-function.md), in float32.
 */
export function buildRaceGraph(p: RaceProfile): Uint8Array {
  const { width: d, heads: h, ffn: f, vocab: V, seqLen: S, layers: L } = p
  const dh = d / h
  const nodes: InstanceType<typeof onnx.NodeProto>[] = []
  const inits: InstanceType<typeof onnx.TensorProto>[] = []
  let n = 0
  const fresh = (hint: string): string => `${hint}_${n++}`
  const node = (
    op: string,
    inputs: string[],
    attrs: Record<string, number | number[]> = {},
    hint = op,
  ): string => {
    const out = fresh(hint)
    nodes.push(
      onnx.NodeProto.create({
        opType: op,
        input: inputs,
        output: [out],
        name: out,
        // Every attribute used here is an integer or a list of integers.
        attribute: Object.entries(attrs).map(([name, v]) =>
          Array.isArray(v)
            ? onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: v })
            : onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i: v }),
        ),
      }),
    )
    return out
  }
  const constF = (hint: string, dims: number[], values: number[]): string => {
    const name = fresh(hint)
    inits.push(onnx.TensorProto.create({ name, dataType: FLOAT, dims, floatData: values }))
    return name
  }
  const constI = (hint: string, values: number[]): string => {
    const name = fresh(hint)
    inits.push(onnx.TensorProto.create({ name, dataType: INT64, dims: [values.length], int64Data: values }))
    return name
  }

  const eps = constF('eps', [], [1e-5])
  const rmsnorm = (x: string): string => {
    // Opset 17: ReduceMean takes its axes as an attribute.
    const ms = node('ReduceMean', [node('Mul', [x, x])], { axes: [-1], keepdims: 1 })
    return node('Div', [x, node('Sqrt', [node('Add', [ms, eps])])], {}, 'rmsnorm')
  }
  const splitShape = constI('split', [0, 0, h, dh])
  const mergeShape = constI('merge', [0, 0, d])
  const scale = constF('scale', [], [1 / Math.sqrt(dh)])
  // Causal mask [S, S]: 0 on and below the diagonal, a large negative number above.
  const mask: number[] = []
  for (let i = 0; i < S; i++) for (let j = 0; j < S; j++) mask.push(j <= i ? 0 : -1e9)
  const maskT = constF('mask', [S, S], mask)

  let x = node('Gather', ['embedding', 'tokens'], { axis: 0 }, 'embed') // [B, S, d]
  for (let l = 0; l < L; l++) {
    const w = (k: string): string => `l${l}.${k}`
    const a = rmsnorm(x)
    const heads = (m: string, perm: number[]): string =>
      node('Transpose', [node('Reshape', [node('MatMul', [a, w(m)]), splitShape])], { perm })
    const q = heads('wq', [0, 2, 1, 3]) // [B, h, S, dh]
    const kT = heads('wk', [0, 2, 3, 1]) // [B, h, dh, S]
    const v = heads('wv', [0, 2, 1, 3])
    const scores = node('Add', [node('Mul', [node('MatMul', [q, kT]), scale]), maskT])
    const att = node('MatMul', [node('Softmax', [scores], { axis: -1 }), v]) // [B, h, S, dh]
    const merged = node('Reshape', [node('Transpose', [att], { perm: [0, 2, 1, 3] }), mergeShape])
    x = node('Add', [x, node('MatMul', [merged, w('wo')])], {}, 'resid')
    const hidden = node('Relu', [node('MatMul', [rmsnorm(x), w('w1')])])
    x = node('Add', [x, node('MatMul', [hidden, w('w2')])], {}, 'resid')
  }
  const lastIdx = constI('last', [S - 1])
  const last = node('Squeeze', [node('Gather', [x, lastIdx], { axis: 1 }), constI('ax1', [1])]) // [B, d]
  const logits = node('MatMul', [rmsnorm(last), 'output'])
  nodes.push(onnx.NodeProto.create({ opType: 'Identity', input: [logits], output: ['logits'], name: 'out' }))

  const info = (
    name: string,
    type: number,
    dims: Array<number | string>,
  ): InstanceType<typeof onnx.ValueInfoProto> =>
    onnx.ValueInfoProto.create({
      name,
      type: onnx.TypeProto.create({
        tensorType: onnx.TypeProto.Tensor.create({
          elemType: type,
          shape: onnx.TensorShapeProto.create({
            dim: dims.map((v) =>
              typeof v === 'number'
                ? onnx.TensorShapeProto.Dimension.create({ dimValue: v })
                : onnx.TensorShapeProto.Dimension.create({ dimParam: v }),
            ),
          }),
        }),
      }),
    })
  const weightShapes: Array<[string, number[]]> = [['embedding', [V, d]]]
  for (let l = 0; l < L; l++) {
    for (const k of ['wq', 'wk', 'wv', 'wo']) weightShapes.push([`l${l}.${k}`, [d, d]])
    weightShapes.push([`l${l}.w1`, [d, f]], [`l${l}.w2`, [f, d]])
  }
  weightShapes.push(['output', [d, V]])

  const graph = onnx.GraphProto.create({
    name: 'cordex-race-v1',
    node: nodes,
    initializer: inits,
    input: [info('tokens', INT64, ['batch', S]), ...weightShapes.map(([nm, dims]) => info(nm, FLOAT, dims))],
    output: [info('logits', FLOAT, ['batch', V])],
  })
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'cordex',
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 17 })],
    graph,
  })
  return onnx.ModelProto.encode(model).finish()
}
