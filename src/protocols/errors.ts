import { CordexError } from '../util/errors.js'

/** What to do with the peer that caused a protocol error (STYLE 7). */
export type PeerAction = 'ignore' | 'reject' | 'penalize'

export type ProtocolErrorCode =
  'FRAME_TOO_LARGE' | 'MALFORMED' | 'TIMEOUT' | 'REMOTE_ERROR' | 'STREAM_CLOSED' | 'DIAL_FAILED'

export class ProtocolError extends CordexError<ProtocolErrorCode, { protocol: string; action: PeerAction }> {}
