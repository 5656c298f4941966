import { BatchError } from './errors.js'
import type { BatchEndpoint } from './jsonl.js'

/**
 * A batch's status, as OpenAI names them: validating → in_progress → finalizing → completed;
 * validating → failed (its file does not fit the batch); in_progress → expired (the completion
 * window ran out: the lines not run are failed as `batch_expired`); validating or in_progress →
 * cancelling → cancelled (the lines running when it was cancelled finish or are stopped).
 */
export type BatchStatus =
  | 'validating'
  | 'failed'
  | 'in_progress'
  | 'finalizing'
  | 'completed'
  | 'expired'
  | 'cancelling'
  | 'cancelled'

/** Statuses a batch never leaves. */
export const FINAL_STATUSES: readonly BatchStatus[] = ['failed', 'completed', 'expired', 'cancelled']

/** Why a batch failed validation: one entry per problem, with the line where there is one (1-based). */
export interface BatchProblem {
  code: string
  message: string
  line: number | null
}

/** The completion window: OpenAI's only one, 24 hours. */
export const COMPLETION_WINDOW_S = 24 * 3600

/** A batch job as it is stored (times are Unix seconds, as OpenAI gives them; null: not yet). */
export interface BatchJob {
  id: string
  endpoint: BatchEndpoint
  inputFileId: string
  metadata: Record<string, string> | null
  status: BatchStatus
  errors: BatchProblem[] | null
  outputFileId: string | null
  errorFileId: string | null
  /** Requests in the input file, those that got a 2xx answer, those that failed. */
  counts: { total: number; completed: number; failed: number }
  createdAt: number
  expiresAt: number
  inProgressAt: number | null
  finalizingAt: number | null
  completedAt: number | null
  failedAt: number | null
  expiredAt: number | null
  cancellingAt: number | null
  cancelledAt: number | null
}

/** What moves a batch (see BatchStatus); `now` is Unix seconds. */
export type BatchEvent =
  | { type: 'validated' }
  | { type: 'invalid'; errors: BatchProblem[] }
  /** A line finished: answered (`ok`) or failed for good. Counted in progress and while cancelling. */
  | { type: 'line'; ok: boolean }
  /** Every line is done: the output files are being written. */
  | { type: 'finalize' }
  /** The output files are written (null: no line of that kind). */
  | { type: 'complete'; outputFileId: string | null; errorFileId: string | null }
  | { type: 'cancel' }
  /** Nothing of a cancelled batch runs any more; what finished is in these files. */
  | { type: 'cancelled'; outputFileId: string | null; errorFileId: string | null }
  /** The window ran out with `unrun` lines never started; they count as failed. */
  | { type: 'expire'; unrun: number; outputFileId: string | null; errorFileId: string | null }

export function newJob(a: {
  id: string
  endpoint: BatchEndpoint
  inputFileId: string
  metadata: Record<string, string> | null
  total: number
  now: number
}): BatchJob {
  return {
    id: a.id,
    endpoint: a.endpoint,
    inputFileId: a.inputFileId,
    metadata: a.metadata,
    status: 'validating',
    errors: null,
    outputFileId: null,
    errorFileId: null,
    counts: { total: a.total, completed: 0, failed: 0 },
    createdAt: a.now,
    expiresAt: a.now + COMPLETION_WINDOW_S,
    inProgressAt: null,
    finalizingAt: null,
    completedAt: null,
    failedAt: null,
    expiredAt: null,
    cancellingAt: null,
    cancelledAt: null,
  }
}

/** Lines finished, either way. */
export function linesDone(job: BatchJob): number {
  return job.counts.completed + job.counts.failed
}

/**
 * The batch after `event` at `now` (Unix seconds); `job` is not changed. An event its status
 * does not allow throws BatchError BAD_STATE, except `cancel` of a batch already cancelling or
 * cancelled, which leaves it as it is (a second cancel is no error, as with OpenAI).
 */
export function step(job: BatchJob, event: BatchEvent, now: number): BatchJob {
  const refuse = (): never => {
    throw new BatchError('BAD_STATE', `a batch that is ${job.status} cannot take '${event.type}'`)
  }
  const is = (...s: BatchStatus[]): boolean => s.includes(job.status)
  switch (event.type) {
    case 'validated':
      if (!is('validating')) refuse()
      return { ...job, status: 'in_progress', inProgressAt: now }
    case 'invalid':
      if (!is('validating')) refuse()
      return { ...job, status: 'failed', errors: event.errors, failedAt: now }
    case 'line': {
      if (!is('in_progress', 'cancelling') || linesDone(job) >= job.counts.total) refuse()
      const c = job.counts
      return {
        ...job,
        counts: event.ok ? { ...c, completed: c.completed + 1 } : { ...c, failed: c.failed + 1 },
      }
    }
    case 'finalize':
      if (!is('in_progress') || linesDone(job) < job.counts.total) refuse()
      return { ...job, status: 'finalizing', finalizingAt: now }
    case 'complete':
      if (!is('finalizing')) refuse()
      return {
        ...job,
        status: 'completed',
        completedAt: now,
        outputFileId: event.outputFileId,
        errorFileId: event.errorFileId,
      }
    case 'cancel':
      if (is('cancelling', 'cancelled')) return job
      if (!is('validating', 'in_progress'))
        throw new BatchError('BAD_STATE', `a batch that is ${job.status} cannot be cancelled`)
      return { ...job, status: 'cancelling', cancellingAt: now }
    case 'cancelled':
      if (!is('cancelling')) refuse()
      return {
        ...job,
        status: 'cancelled',
        cancelledAt: now,
        outputFileId: event.outputFileId,
        errorFileId: event.errorFileId,
      }
    case 'expire':
      if (!is('in_progress') || linesDone(job) + event.unrun > job.counts.total) refuse()
      return {
        ...job,
        status: 'expired',
        expiredAt: now,
        counts: { ...job.counts, failed: job.counts.failed + event.unrun },
        outputFileId: event.outputFileId,
        errorFileId: event.errorFileId,
      }
  }
}

/** Metadata bounds, as OpenAI's: 16 pairs, keys of 64 and values of 512 characters at most. */
const MAX_METADATA_KEYS = 16
const MAX_METADATA_KEY = 64
const MAX_METADATA_VALUE = 512

/** Check a batch's `metadata` (absent: null); throws BatchError INVALID_VALUE. */
export function checkMetadata(v: unknown): Record<string, string> | null {
  if (v === undefined || v === null) return null
  const bad = (): never => {
    throw new BatchError(
      'INVALID_VALUE',
      `metadata must be an object of at most ${MAX_METADATA_KEYS} strings (keys up to ${MAX_METADATA_KEY} characters, values up to ${MAX_METADATA_VALUE})`,
    )
  }
  if (typeof v !== 'object' || Array.isArray(v)) bad()
  const entries = Object.entries(v as Record<string, unknown>)
  if (entries.length > MAX_METADATA_KEYS) bad()
  for (const [k, x] of entries)
    if (k.length > MAX_METADATA_KEY || typeof x !== 'string' || x.length > MAX_METADATA_VALUE) bad()
  return v as Record<string, string>
}
