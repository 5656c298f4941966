import { CordexError } from '../util/errors.js'

/** What to do with the peer that caused a protocol error (STYLE 7). */
export type PeerAction = 'ignore' | 'reject' | 'penalize'

export type ProtocolErrorCode =
  'FRAME_TOO_LARGE' | 'MALFORMED' | 'TIMEOUT' | 'REMOTE_ERROR' | 'STREAM_CLOSED' | 'DIAL_FAILED'

export class ProtocolError extends CordexError<ProtocolErrorCode, { protocol: string; action: PeerAction }> {}

/** Why one request/response exchange failed, as a fetcher reports it. */
export type ExchangeFailure = 'TIMEOUT' | 'UNREACHABLE' | 'REFUSED' | 'MALFORMED' | 'CANCELLED'

/**
 * What a failed `ReqResp.request` means for the fetcher: cancelled by its own signal, timed out,
 * no stream, an answer too large or malformed (the sender's fault, per the error's action), or a
 * refusal or hang-up (ignored).
 */
export function exchangeFailure(
  err: unknown,
  signal: AbortSignal | undefined,
): { code: ExchangeFailure; action: PeerAction } {
  const ignore = (code: ExchangeFailure): { code: ExchangeFailure; action: PeerAction } => ({
    code,
    action: 'ignore',
  })
  if (signal?.aborted === true) return ignore('CANCELLED')
  if (!(err instanceof ProtocolError)) return ignore('REFUSED')
  switch (err.code) {
    case 'TIMEOUT':
      return ignore('TIMEOUT')
    case 'DIAL_FAILED':
      return ignore('UNREACHABLE')
    case 'FRAME_TOO_LARGE':
    case 'MALFORMED':
      return { code: 'MALFORMED', action: err.meta.action }
    case 'REMOTE_ERROR':
    case 'STREAM_CLOSED':
      return ignore('REFUSED')
  }
}
