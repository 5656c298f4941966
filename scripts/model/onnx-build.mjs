// Small helpers the model scripts share for reading and writing ONNX protobufs (onnx-proto): the
// tensor, attribute and value-info constructors, and reading a FLOAT tensor's values.
import onnxProto from 'onnx-proto'

export const { onnx } = onnxProto
export const DT = onnx.TensorProto.DataType
export const ATTR = onnx.AttributeProto.AttributeType

/** A protobuf int64 (a Long or a number) as a number. */
export const num = (v) => (typeof v === 'number' ? v : v.toNumber())

/** A FLOAT tensor's values (raw_data or float_data). */
export function floats(t) {
  if (t.rawData !== undefined && t.rawData.length > 0) {
    const b = Uint8Array.from(t.rawData)
    return new Float32Array(b.buffer, 0, b.length / 4)
  }
  return Float32Array.from(t.floatData)
}

/** The bytes of a typed array (a view, not a copy). */
export const raw = (typed) => new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength)

export function tensor(name, dataType, dims, typed) {
  return onnx.TensorProto.create({ name, dataType, dims, rawData: raw(typed) })
}

export const attrInt = (name, i) => onnx.AttributeProto.create({ name, type: ATTR.INT, i })
export const attrInts = (name, ints) => onnx.AttributeProto.create({ name, type: ATTR.INTS, ints })

/** A graph input or output: `dims` are sizes or named (dynamic) dimensions. */
export const valueInfo = (name, elemType, dims) =>
  onnx.ValueInfoProto.create({
    name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType,
        shape: onnx.TensorShapeProto.create({
          dim: dims.map((d) =>
            typeof d === 'string'
              ? onnx.TensorShapeProto.Dimension.create({ dimParam: d })
              : onnx.TensorShapeProto.Dimension.create({ dimValue: d }),
          ),
        }),
      }),
    }),
  })

/**
 * The linear layers, as torch.onnx.export writes nn.Linear: MatMul(x, Transpose(W)) with W a float
 * initializer [N, K] (row n = output feature n).
 */
export function projections(graph) {
  const inits = new Map(graph.initializer.map((t) => [t.name, t]))
  const producer = new Map(graph.node.flatMap((n) => n.output.map((o) => [o, n])))
  const out = []
  for (const mm of graph.node) {
    if (mm.opType !== 'MatMul') continue
    const tr = producer.get(mm.input[1])
    const w = tr?.opType === 'Transpose' ? inits.get(tr.input[0]) : undefined
    if (w === undefined || w.dims.length !== 2 || w.dataType !== DT.FLOAT) continue
    const perm = tr.attribute.find((a) => a.name === 'perm')
    if (perm !== undefined && perm.ints.map(num).join(',') !== '1,0') continue
    out.push({ matmul: mm, transpose: tr, weight: w, N: num(w.dims[0]), K: num(w.dims[1]) })
  }
  return out
}
