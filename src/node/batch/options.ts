import type { BatchFileLimits } from './files.js'

/** Settings of batch jobs (config `batch`); the file bounds are BatchFiles'. */
export interface BatchOptions extends BatchFileLimits {
  /** Batches kept; beyond, the oldest finished one goes (with its results and output files). */
  maxBatches: number
  /**
   * Lines in flight at once over every batch of this daemon. Default 8: as many as one executor
   * takes from one gateway at once (`protocols.maxStreamsPerPeer`), where they decode together.
   */
  concurrency: number
  /** Times a busy refusal (`gateway_busy`, `no_executor`) of a line is retried before it fails. */
  maxRetries: number
  /** Backoff before the first retry, ms, doubling up to `retryMaxMs`. */
  retryBaseMs: number
  retryMaxMs: number
}

/** The defaults of config `batch` (src/node/config/schema.ts takes them from here). */
export const DEFAULT_BATCH_OPTIONS: BatchOptions = {
  maxFileBytes: 1_000_000,
  maxLines: 1000,
  maxFiles: 100,
  maxBatches: 100,
  concurrency: 8,
  maxRetries: 5,
  retryBaseMs: 1000,
  retryMaxMs: 30_000,
}
