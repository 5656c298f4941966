import { CordexError } from '../../util/errors.js'

/**
 * Why a Freivalds audit refused something. The verifier treats every code but `BAD_ARGUMENT` and
 * `FIELD_TOO_SMALL` (its own mistakes) as a failed check of the executor.
 * - `BAD_ARGUMENT`: a caller passed a shape, prime or parameter out of range;
 * - `FIELD_TOO_SMALL`: the prime cannot tell two in-range int32 outputs apart (p ≤ 2^15·K);
 * - `BAD_OPENING`: an opening's bytes, index or path do not hash to the committed root;
 * - `NOT_CHALLENGED`: an opening for a row the challenge did not ask for, or one missing;
 * - `OUT_OF_RANGE`: an output element no int8 × int8 product of that depth can reach;
 * - `WRONG_PRODUCT`: `x_i·(W r) ≢ y_i·r (mod p)` for some opened row and round.
 */
export type FreivaldsErrorCode =
  'BAD_ARGUMENT' | 'FIELD_TOO_SMALL' | 'BAD_OPENING' | 'NOT_CHALLENGED' | 'OUT_OF_RANGE' | 'WRONG_PRODUCT'

export interface FreivaldsErrorMeta {
  layer?: number
  projection?: number
  row?: number
  round?: number
}

export class FreivaldsError extends CordexError<FreivaldsErrorCode, FreivaldsErrorMeta> {
  constructor(code: FreivaldsErrorCode, message: string, meta: FreivaldsErrorMeta = {}) {
    super(code, message, meta)
    this.name = 'FreivaldsError'
  }
}
