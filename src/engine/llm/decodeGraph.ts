// The decoding graph: a standard decoder export rewritten so that a decoding step reads its cache
// where it lies and returns only the step's own keys and values (issue 14, item 6).
//
// A decoder export's step appends the new token's key and value to the past: per layer,
// `present.N.key = Concat(past_key_values.N.key, k)` (and value), which the attention then reads,
// and which comes back to JavaScript as a new tensor. With a batch of 16 sequences 200 positions
// long that is 26 MB written by onnxruntime, copied into new JavaScript buffers and collected
// again, every step: on kjv-small it made a batch-16 step three to five times slower than its
// arithmetic (16 against 3.7 ms, `npm run bench:infer -- engine`).
//
// The rewrite keeps the arithmetic and drops the copies. The attention of the step's one query
// over Concat(past, k) is computed in two parts, which is the same sum:
//
//   scores = Concat(q · pastᵀ, q · kᵀ)            (along the key axis; the mask then the softmax as before)
//   out    = P[…, :-1] · past_v + P[…, -1:] · v   (P the softmax's output)
//
// and the graph returns k and v themselves (`<present name>.step`, [batch, kvHeads, 1, headDim])
// instead of the grown caches. The caller keeps each sequence's cache in a buffer of fixed width
// (kvArena.ts), fed as it is, its unused positions masked out, and writes each step's k and v into
// it. Only the rows of one token are ever copied.
//
// The rewrite applies only where every cache is used exactly this way: each `present.N.*` the
// output of a Concat of its past and one other tensor along the position axis, the key read only
// through a Transpose of its last two axes into the scores' MatMul, the value only as the right
// side of the output's MatMul, either directly or through a chain of Unsqueeze, Expand and
// Reshape that repeats its heads (grouped-query attention: it acts on each position alone, so it
// is applied to the past and to the step's rows separately). GPT-2 and Llama exports by
// torch.onnx (kjv-small and its int8 form, the Llama fixtures in float32, float16, int8 and 4-bit)
// are such graphs. Anything else (a merged decoder's If branches, weights in external files,
// which a graph loaded from memory cannot find) gets null, and the engine decodes with the export
// as it is.
import onnxProto from 'onnx-proto'

const { onnx } = onnxProto
type Node = onnxProto.onnx.INodeProto

/** The decoding graph's output for one cache: the step's own key or value rows. */
export const stepOutput = (present: string): string => `${present}.step`

const INT64 = onnx.TensorProto.DataType.INT64
const EXTERNAL = onnx.TensorProto.DataLocation.EXTERNAL
const PREFIX = 'cordex/decode/'
/** Operators that repeat a cache's heads position by position (grouped-query attention). */
const REPEAT_OPS = new Set(['Unsqueeze', 'Expand', 'Reshape'])

const int64 = (name: string, v: number): onnxProto.onnx.TensorProto =>
  onnx.TensorProto.create({
    name,
    dataType: INT64,
    dims: [1],
    rawData: new Uint8Array(BigInt64Array.of(BigInt(v)).buffer),
  })

/**
 * The decoding graph of `model` (an ONNX ModelProto's bytes) whose caches are `pastNames`
 * (`past_key_values.N.key|value`, their successors `present.N.*`), or null when the export is not
 * one this rewrite understands (see above).
 */
export function decodeGraph(model: Uint8Array, pastNames: readonly string[]): Uint8Array | null {
  const proto = onnx.ModelProto.decode(model)
  if (proto.graph === null || proto.graph === undefined) return null
  const graph = proto.graph as onnxProto.onnx.GraphProto
  if (graph.initializer.some((t) => t.dataLocation === EXTERNAL)) return null
  const consumers = new Map<string, Node[]>()
  for (const n of graph.node)
    for (const i of n.input ?? []) consumers.set(i, [...(consumers.get(i) ?? []), n])
  const only = (name: string): Node | undefined => {
    const c = consumers.get(name)
    return c?.length === 1 ? c[0] : undefined
  }
  const node = (name: string, opType: string, input: string[], output: string[], attribute = []) =>
    onnx.NodeProto.create({ name: PREFIX + name, opType, input, output, attribute })

  /**
   * The nodes from `start` to its attention: a chain of Unsqueeze, Expand and Reshape, each the
   * only consumer of the one before (grouped-query attention repeating the cache's heads, which
   * acts on each position alone), and the node after it.
   */
  const chainFrom = (start: string): { chain: Node[]; end: Node | undefined; out: string } => {
    const chain: Node[] = []
    let out = start
    for (;;) {
      const n = only(out)
      if (n === undefined || !REPEAT_OPS.has(n.opType ?? '') || n.input?.[0] !== out)
        return { chain, end: n, out }
      chain.push(n)
      out = n.output![0]!
    }
  }
  /** The chain again, fed `input` instead (its other inputs, shapes, are shared); its output. */
  const repeat = (chain: Node[], input: string, at: string, added: Node[]): string =>
    chain.reduce((x, n, k) => {
      const out = `${PREFIX}${at}${k}`
      added.push(node(`${at}${k}`, n.opType!, [x, ...n.input!.slice(1)], [out], n.attribute as never))
      return out
    }, input)

  /** Each replaced node: the nodes that take its place (none: dropped). */
  const replaced = new Map<Node, Node[]>()
  const steps: Array<{ present: string; fresh: string }> = []
  for (const past of pastNames) {
    const present = past.replace('past_key_values.', 'present.')
    const concat = graph.node.find((n) => n.opType === 'Concat' && n.output?.[0] === present)
    if (concat === undefined || concat.input?.length !== 2 || concat.input[0] !== past) return null
    if (only(past) !== concat) return null
    const axis = concat.attribute?.find((a) => a.name === 'axis')
    if (axis === undefined || !(Number(axis.i) === 2 || Number(axis.i) === -2)) return null
    const fresh = concat.input[1]!
    replaced.set(concat, [])
    steps.push({ present, fresh })
    const { chain, end, out } = chainFrom(present)
    for (const n of chain) replaced.set(n, [])
    const at = `${present}/`
    const added: Node[] = []
    const pastX = repeat(chain, past, `${at}past/`, added)
    const freshX = repeat(chain, fresh, `${at}fresh/`, added)
    if (past.endsWith('.key')) {
      const tr = end
      const perm = tr?.attribute
        ?.find((a) => a.name === 'perm')
        ?.ints?.map(Number)
        .join()
      if (tr?.opType !== 'Transpose' || perm !== '0,1,3,2') return null
      const mm = only(tr.output![0]!)
      if (mm?.opType !== 'MatMul' || mm.input![1] !== tr.output![0]) return null
      const [q] = mm.input!
      const scores = mm.output![0]!
      replaced.set(tr, [])
      replaced.set(mm, [
        ...added,
        node(`${at}pastT`, 'Transpose', [pastX], [`${PREFIX}${at}pastT`], tr.attribute as never),
        node(`${at}freshT`, 'Transpose', [freshX], [`${PREFIX}${at}freshT`], tr.attribute as never),
        node(`${at}pastScores`, 'MatMul', [q!, `${PREFIX}${at}pastT`], [`${PREFIX}${at}pastScores`]),
        node(`${at}freshScores`, 'MatMul', [q!, `${PREFIX}${at}freshT`], [`${PREFIX}${at}freshScores`]),
        node(`${at}scores`, 'Concat', [`${PREFIX}${at}pastScores`, `${PREFIX}${at}freshScores`], [scores], [
          onnx.AttributeProto.create({ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: -1 }),
        ] as never),
      ])
    } else {
      const mm = end
      if (mm?.opType !== 'MatMul' || mm.input![1] !== out) return null
      const [p] = mm.input!
      replaced.set(mm, [
        ...added,
        node(
          `${at}pastP`,
          'Slice',
          [p!, `${PREFIX}0`, `${PREFIX}-1`, `${PREFIX}-1`],
          [`${PREFIX}${at}pastP`],
        ),
        node(
          `${at}freshP`,
          'Slice',
          [p!, `${PREFIX}-1`, `${PREFIX}end`, `${PREFIX}-1`],
          [`${PREFIX}${at}freshP`],
        ),
        node(`${at}pastOut`, 'MatMul', [`${PREFIX}${at}pastP`, pastX], [`${PREFIX}${at}pastOut`]),
        node(`${at}freshOut`, 'MatMul', [`${PREFIX}${at}freshP`, freshX], [`${PREFIX}${at}freshOut`]),
        node(`${at}out`, 'Add', [`${PREFIX}${at}pastOut`, `${PREFIX}${at}freshOut`], mm.output as string[]),
      ])
    }
  }
  // The new nodes stand where the MatMuls they replace stood: every input of theirs is computed
  // before that point (the past is a graph input, the step's key and value precede the Concat).
  graph.node = graph.node.flatMap((n) => replaced.get(n) ?? [n])
  for (const { present, fresh } of steps)
    graph.node.push(node(`${present}/step`, 'Identity', [fresh], [stepOutput(present)]))
  graph.initializer.push(
    int64(`${PREFIX}0`, 0),
    int64(`${PREFIX}-1`, -1),
    int64(`${PREFIX}end`, Number.MAX_SAFE_INTEGER),
  )
  const presents = new Set(steps.map((s) => s.present))
  graph.output = graph.output.map((o) =>
    presents.has(o.name!)
      ? onnx.ValueInfoProto.create({ name: stepOutput(o.name!), type: oneStep(o.type) })
      : o,
  )
  return onnx.ModelProto.encode(proto).finish()
}

/** A cache's type with one position: [batch, kvHeads, 1, headDim]. */
function oneStep(type: onnxProto.onnx.ITypeProto | null | undefined): onnxProto.onnx.TypeProto {
  const t = type?.tensorType
  const dims = t?.shape?.dim ?? []
  return onnx.TypeProto.create({
    tensorType: onnx.TypeProto.Tensor.create({
      elemType: t?.elemType ?? onnx.TensorProto.DataType.FLOAT,
      shape: onnx.TensorShapeProto.create({
        dim: dims.map((d, i) => (i === 2 ? onnx.TensorShapeProto.Dimension.create({ dimValue: 1 }) : d)),
      }),
    }),
  })
}
