import { CordexError } from '../../util/errors.js'
import { exchangeFailure, type PeerAction } from '../errors.js'

export type TaskFetchErrorCode =
  /** The peer answered that it keeps no record of the task. */
  | 'NOT_FOUND'
  /** No whole answer within the deadline. */
  | 'TIMEOUT'
  /** No stream could be opened to the peer. */
  | 'UNREACHABLE'
  /** The peer refused (busy, over its rate, failed) or hung up. */
  | 'REFUSED'
  /** The answer was oversized or not a record. */
  | 'MALFORMED'
  /** The caller's signal aborted the fetch. */
  | 'CANCELLED'

/** Why a record could not be fetched; `meta.action` says what the answer deserves from its sender. */
export class TaskFetchError extends CordexError<TaskFetchErrorCode, { peer: string; action: PeerAction }> {}

/** The TaskFetchError for a failed request/response exchange with `peer`. */
export function fetchError(peer: string, err: unknown, signal: AbortSignal | undefined): TaskFetchError {
  const { code, action } = exchangeFailure(err, signal)
  return new TaskFetchError(code, (err as Error).message, { peer, action }, { cause: err })
}
