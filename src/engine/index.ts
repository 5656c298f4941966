// The engine: everything that runs on onnxruntime: the Race backends and LLM inference.
export { OrtRaceBackend, OrtRaceSession, type OrtRaceOptions } from './race/ortBackend.js'
export { buildRaceGraph, weightInputNames } from './race/graph.js'
export * from './llm/index.js'
export { WebGpuRaceBackend, type WebGpuRaceOptions } from './race/webgpuBackend.js'
export {
  webgpuAvailable,
  requestWebGpuAdapter,
  WebGpuError,
  WebGpuUnavailableError,
  type WebGpuErrorCode,
  type WebGpuOptions,
} from './race/webgpu.js'
