import ort from 'onnxruntime-node'
import onnxProto from 'onnx-proto'

const { onnx } = onnxProto

/**
 * `V = W·D` for one int8 weight W (K×N, fixed) and the digits D (N×cols int8) of a Freivalds
 * challenge's vectors, through onnxruntime's MatMulInteger: exact in int32, and several times
 * faster than the JavaScript loop (`npm run bench:verify -- freivalds`). One session per weight,
 * W its initializer, so that each audit sends only D.
 */
export class Int8Projector {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly N: number,
  ) {}

  static async create(W: Int8Array, K: number, N: number): Promise<Int8Projector> {
    const DT = onnx.TensorProto.DataType
    const dims = (...d: Array<number | string>): onnxProto.onnx.ITensorShapeProto =>
      onnx.TensorShapeProto.create({
        dim: d.map((v) =>
          typeof v === 'number'
            ? onnx.TensorShapeProto.Dimension.create({ dimValue: v })
            : onnx.TensorShapeProto.Dimension.create({ dimParam: v }),
        ),
      })
    const info = (name: string, elemType: number, shape: onnxProto.onnx.ITensorShapeProto) =>
      onnx.ValueInfoProto.create({
        name,
        type: onnx.TypeProto.create({ tensorType: onnx.TypeProto.Tensor.create({ elemType, shape }) }),
      })
    const model = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 17 })],
      graph: onnx.GraphProto.create({
        name: 'project',
        node: [onnx.NodeProto.create({ opType: 'MatMulInteger', input: ['W', 'D'], output: ['V'] })],
        initializer: [
          onnx.TensorProto.create({
            name: 'W',
            dataType: DT.INT8,
            dims: [K, N],
            rawData: new Uint8Array(W.buffer, W.byteOffset, W.byteLength),
          }),
        ],
        input: [info('D', DT.INT8, dims(N, 'cols'))],
        output: [info('V', DT.INT32, dims(K, 'cols'))],
      }),
    })
    const session = await ort.InferenceSession.create(onnx.ModelProto.encode(model).finish(), {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
    })
    return new Int8Projector(session, N)
  }

  async project(D: Int8Array, cols: number): Promise<Int32Array> {
    const out = await this.session.run({ D: new ort.Tensor('int8', D, [this.N, cols]) })
    return out.V!.data as Int32Array
  }
}
