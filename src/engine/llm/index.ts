export { Engine, RUNTIME, runtimeId, type EngineComponents, type EngineOptions } from './engine.js'
export { webgpuUnavailable } from './webgpuProbe.js'
export type { ProviderChoice } from './worker.js'
export { EngineError, type EngineErrorCode } from './errors.js'
export {
  TextModel,
  decoderSpec,
  MAX_CHAT_MESSAGES,
  MAX_ROLE_CHARS,
  type ChatMessage,
  type DecoderSpec,
} from './model.js'
export { maxCharsPerToken } from './tokenBound.js'
export { TokenizerPool, DEFAULT_TOKENIZER_POOL, type TokenizerPoolOptions } from './tokenizerPool.js'
export { loadManifest, manifestSchema, sha256Hex, type Manifest, type PinnedModel } from './manifest.js'
export { OrtDecoder, ortReason, type DecoderOptions, type ExecutionProvider } from './decoder.js'
export { decoderIo, type DecoderIo, type FloatType, type IndexType, type IoMetadata } from './decoderIo.js'
export { externalDataLocations } from './externalData.js'
export { halfToFloat } from './float16.js'
export {
  generate,
  firstStop,
  MAX_STOP_LENGTH,
  MAX_STOP_SEQUENCES,
  type FinishReason,
  type GenerationChunk,
  type GenerationRequest,
  type GenerationResult,
  type LoopModel,
  type AuditCheat,
} from './generate.js'
export { auditProducts, type AuditProduct } from './auditProducts.js'
export type { AuditRequest, AuditVerdict } from './auditCheck.js'
export {
  Sampler,
  GREEDY,
  argmax,
  candidates,
  checkSampling,
  drawIndex,
  type Candidates,
  type SamplingParams,
} from './sampler.js'
export {
  DEFAULT_REPLAY_EPSILON,
  replayFeed,
  replayOn,
  replayRule,
  type ReplayContext,
  type ReplayEpsilon,
  type ReplayFail,
  type ReplayModel,
  type ReplayPass,
  type ReplayRequest,
  type ReplayVerdict,
} from './replay.js'
export { loadInt8Weights, type Int8Weights } from './int8Weights.js'
export type { Int8Activation, Int8Block, Int8Glue, Int8Norm } from './int8Glue.js'
