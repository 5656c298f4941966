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
