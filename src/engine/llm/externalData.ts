// Which files an ONNX model reads besides itself. ONNX "external data" keeps a tensor's bytes in
// another file (`model.onnx_data` in Optimum and torch exports of large models), named by the
// tensor's `external_data` entry `location`, relative to the model's folder. Model pinning must
// hash those files too, or a host could swap the weights under an unchanged model.onnx.
//
// A walk over the protobuf wire format, not a decode: only the messages that can hold tensors are
// entered, and every other field (weights stored inline included) is skipped by its length, so a
// 2 GB model costs no copy.
import { EngineError } from './errors.js'
import { WireError, wireFields } from '../../util/protobufWire.js'

// Field numbers of onnx.proto (IR version 8 and later).
const MODEL = { graph: 7, trainingInfo: 20, functions: 25 }
const TRAINING_INFO = { initialization: 1, algorithm: 2 }
const FUNCTION = { node: 7 }
const GRAPH = { node: 1, initializer: 5, sparseInitializer: 15 }
const NODE = { attribute: 5 }
const ATTRIBUTE = { t: 5, g: 6, tensors: 10, graphs: 11, sparseTensor: 22, sparseTensors: 23 }
const SPARSE = { values: 1, indices: 2 }
const TENSOR = { externalData: 13 }
const ENTRY = { key: 1, value: 2 }

/** Nesting deeper than this is refused (subgraphs of subgraphs…; real exports nest two or three). */
const MAX_DEPTH = 64

type Visit = (field: number, body: Uint8Array, depth: number) => void

/** Call `visit` for every length-delimited field of the message in `buf`; skip the others. */
function fields(buf: Uint8Array, depth: number, visit: Visit): void {
  if (depth > MAX_DEPTH) throw new WireError(`nested deeper than ${MAX_DEPTH}`)
  for (const f of wireFields(buf)) if (f.body !== undefined) visit(f.field, f.body, depth + 1)
}

/**
 * The external data locations named anywhere in a serialized ONNX ModelProto (graph and subgraph
 * initializers, Constant nodes' tensors, sparse tensors, functions), each once, in order of first
 * appearance. Throws EngineError MODEL_INVALID when the bytes are not a well-formed protobuf.
 */
export function externalDataLocations(model: Uint8Array, file = 'model.onnx'): string[] {
  const found = new Set<string>()
  const text = new TextDecoder('utf-8', { fatal: true })
  const tensor: Visit = (f, body, d) => {
    if (f !== TENSOR.externalData) return
    let key = ''
    let value = ''
    fields(body, d, (ef, eb) => {
      if (ef === ENTRY.key) key = text.decode(eb)
      else if (ef === ENTRY.value) value = text.decode(eb)
    })
    if (key === 'location') found.add(value)
  }
  const sparse: Visit = (f, body, d) => {
    if (f === SPARSE.values || f === SPARSE.indices) fields(body, d, tensor)
  }
  const attribute: Visit = (f, body, d) => {
    if (f === ATTRIBUTE.t || f === ATTRIBUTE.tensors) fields(body, d, tensor)
    else if (f === ATTRIBUTE.g || f === ATTRIBUTE.graphs) fields(body, d, graph)
    else if (f === ATTRIBUTE.sparseTensor || f === ATTRIBUTE.sparseTensors) fields(body, d, sparse)
  }
  const node: Visit = (f, body, d) => {
    if (f === NODE.attribute) fields(body, d, attribute)
  }
  const graph: Visit = (f, body, d) => {
    if (f === GRAPH.node) fields(body, d, node)
    else if (f === GRAPH.initializer) fields(body, d, tensor)
    else if (f === GRAPH.sparseInitializer) fields(body, d, sparse)
  }
  const training: Visit = (f, body, d) => {
    if (f === TRAINING_INFO.initialization || f === TRAINING_INFO.algorithm) fields(body, d, graph)
  }
  const fn: Visit = (f, body, d) => {
    if (f === FUNCTION.node) fields(body, d, node)
  }
  try {
    fields(model, 0, (f, body, d) => {
      if (f === MODEL.graph) fields(body, d, graph)
      else if (f === MODEL.trainingInfo) fields(body, d, training)
      else if (f === MODEL.functions) fields(body, d, fn)
    })
  } catch (err) {
    if (err instanceof WireError || err instanceof TypeError)
      throw new EngineError('MODEL_INVALID', `${file} is not a valid ONNX model: ${err.message}`)
    throw err
  }
  return [...found]
}
