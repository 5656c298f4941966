import { CordexError } from '../../util/errors.js'

/**
 * What a batch request can be refused for:
 * - INVALID_FILE: a line of an upload is not a request the API would take (`line`, 1-based);
 * - FILE_TOO_LARGE / TOO_MANY_LINES: an upload over the configured bounds;
 * - NOT_FOUND: no file or batch of that id;
 * - BAD_STATE: the batch's status does not allow it (cancelling a completed batch);
 * - LIMIT: the daemon already holds as many files, or runs as many batches, as it may.
 * - INVALID_VALUE: a malformed field of a request (not of a line).
 */
export type BatchErrorCode =
  'INVALID_FILE' | 'FILE_TOO_LARGE' | 'TOO_MANY_LINES' | 'NOT_FOUND' | 'BAD_STATE' | 'LIMIT' | 'INVALID_VALUE'

export class BatchError extends CordexError<BatchErrorCode, { line?: number }> {}
