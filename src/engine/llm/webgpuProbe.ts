// Whether onnxruntime's own WebGPU provider finds an adapter here. onnxruntime-node carries its own
// Dawn, so this asks it directly (not the `webgpu` package the Race uses): a one-node session with
// the WebGPU provider, built in memory. Without an adapter it fails within milliseconds.
import onnxProto from 'onnx-proto'
import ort from 'onnxruntime-node'
import { ortReason } from './decoder.js'

const { onnx } = onnxProto

function identityModel(): Uint8Array {
  const info = (name: string) =>
    onnx.ValueInfoProto.create({
      name,
      type: onnx.TypeProto.create({
        tensorType: onnx.TypeProto.Tensor.create({
          elemType: onnx.TensorProto.DataType.FLOAT,
          shape: onnx.TensorShapeProto.create({
            dim: [onnx.TensorShapeProto.Dimension.create({ dimValue: 1 })],
          }),
        }),
      }),
    })
  return onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 17 })],
      graph: onnx.GraphProto.create({
        name: 'probe',
        node: [onnx.NodeProto.create({ opType: 'Neg', input: ['x'], output: ['y'] })],
        input: [info('x')],
        output: [info('y')],
      }),
    }),
  ).finish()
}

/**
 * Null when onnxruntime's WebGPU provider starts here; otherwise why not, in onnxruntime's words
 * (e.g. "Failed to get a WebGPU adapter: No supported adapters").
 */
export async function webgpuUnavailable(): Promise<string | null> {
  try {
    const session = await ort.InferenceSession.create(identityModel(), { executionProviders: ['webgpu'] })
    await session.release()
    return null
  } catch (err) {
    return ortReason(err)
  }
}
