// The engine: everything that runs on onnxruntime. Inference arrives with its own issue.
export { OrtRaceBackend, type OrtRaceOptions } from './race/ortBackend.js'
export { buildRaceGraph, weightInputNames } from './race/graph.js'
