import { CordexError } from '../../util/errors.js'

export type EngineErrorCode =
  /** A model folder is missing a file, or a file is malformed. */
  | 'MODEL_INVALID'
  /** A file's SHA-256 differs from the manifest's (model pinning). */
  | 'MODEL_HASH_MISMATCH'
  | 'MODEL_NOT_FOUND'
  /** The prompt and the requested tokens do not fit the model's context. */
  | 'CONTEXT_OVERFLOW'
  /** A sampling parameter or limit out of range. */
  | 'BAD_PARAMS'
  /** The bounded queue is full. */
  | 'BUSY'
  | 'CANCELLED'
  | 'ENGINE_FAILED'
  /** The execution provider asked for cannot run here (WebGPU without an adapter). */
  | 'PROVIDER_UNAVAILABLE'
  | 'ENGINE_STOPPED'

/** Everything the inference engine refuses or fails with. */
export class EngineError extends CordexError<EngineErrorCode> {
  constructor(code: EngineErrorCode, message: string, meta: Record<string, unknown> = {}) {
    super(code, message, meta)
    this.name = 'EngineError'
  }
}
