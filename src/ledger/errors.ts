import { CordexError } from '../util/errors.js'

export type CodecErrorCode = 'TOO_LARGE' | 'MALFORMED' | 'NOT_CANONICAL' | 'BAD_SHAPE'

/** A decode failure: the bytes are too large, not CBOR, not canonical, or not of the expected shape. */
export class CodecError extends CordexError<CodecErrorCode, { what: string }> {}

/** Why a transaction was refused. Every rejection carries one of these and changes nothing. */
export type TxRejectCode =
  | 'BAD_ENCODING'
  | 'TOO_LARGE'
  | 'BAD_SIGNATURE'
  | 'UNKNOWN_TYPE'
  | 'BAD_BODY'
  | 'WRONG_CHAIN'
  | 'NONCE_TOO_LOW'
  | 'NONCE_GAP'
  | 'FEE_TOO_LOW'
  | 'INSUFFICIENT_FUNDS'
  | 'INSUFFICIENT_STAKE'
  | 'DUPLICATE'
  | 'MEMPOOL_FULL'
  | 'SENDER_LIMIT'
  | 'NOT_VALIDATOR'
  | 'BAD_EVIDENCE'
  | 'WRONG_PHASE'
  | 'WRONG_EPOCH'
  | 'LATE'
  | 'BAD_REVEAL'
  | 'NO_REVEAL'
  | 'BAD_PROOF'
  | 'NO_PROOF'
  | 'BAD_VRF'
  | 'NOT_IN_COMMITTEE'
  | 'UNKNOWN_MODEL'
  | 'NO_TASK'
  | 'NOT_CLIENT'
  | 'BAD_RECEIPT'
  | 'NO_VERIFICATION'
  | 'NOT_VERIFIER'
  | 'ALREADY_VOTED'
  | 'TASK_DECIDED'
  | 'AUDIT_CLOSED'
  | 'KEY_REVEALED'
  | 'NOT_SELECTED'
  | 'BAD_KEY'
  | 'JAILED'

export class TxRejectedError extends CordexError<TxRejectCode, { txHash?: string }> {}

export type BlockRejectCode =
  | 'BAD_HEIGHT'
  | 'BAD_PREV_HASH'
  | 'BAD_TIME'
  | 'BAD_PROPOSER'
  | 'BAD_TX_ROOT'
  | 'BAD_STATE_ROOT'
  | 'BAD_TX'
  | 'BAD_COMMIT'
  | 'BAD_CHAIN'
  | 'TOO_LARGE'

export class BlockRejectedError extends CordexError<BlockRejectCode, { height?: number }> {}
