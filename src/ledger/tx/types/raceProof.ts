import { read, json } from '../../codec.js'
import { TxRejectedError } from '../../errors.js'
import { getEpoch, getRaceParams, putEpoch, putProof, proofDeadline } from '../../epoch/access.js'
import { proofHash } from '../../epoch/seed.js'
import type { TxType } from '../tx.js'
import { inPhase } from './randCommit.js'

export interface RaceProofBody {
  epoch: number
  /** Valid nonces, strictly increasing. */
  nonces: number[]
}

/**
 * SPEC 4 proof submission: the sender's valid nonces of this epoch's Race, before the deadline.
 * The nonces themselves are checked by the validators' verdicts; here only their form, the phase,
 * the deadline, and that a committer revealed.
 */
export const raceProof: TxType<RaceProofBody> = {
  name: 'RaceProof',
  // One proof per peer per epoch, only while the Race is open: bounded without a fee.
  feeExempt: true,
  encodeBody: (b) => [b.epoch, b.nonces],
  decodeBody: (v) => {
    const [e, n] = read.array(v, 2, 'RaceProof')
    return {
      epoch: read.uint(e, 'epoch'),
      nonces: read.uints(n, 1_000_000, 'nonces'),
    }
  },
  fromJson: (v) => {
    const o = json.object(v, 'body')
    return {
      epoch: read.uint(o.epoch, 'epoch'),
      nonces: read.uints(o.nonces, 1_000_000, 'nonces'),
    }
  },
  toJson: (b) => ({ epoch: b.epoch, nonces: b.nonces.length }),
  apply: (s, tx, ctx) => {
    const params = getRaceParams(s)!
    const e = inPhase(getEpoch(s), 'race', tx.body.epoch)
    if (ctx.time > proofDeadline(e, params)) {
      throw new TxRejectedError(
        'LATE',
        `the proof deadline passed ${ctx.time - proofDeadline(e, params)} ms before this block`,
      )
    }
    const { nonces } = tx.body
    if (nonces.length === 0 || nonces.length > params.maxProofNonces) {
      throw new TxRejectedError('BAD_PROOF', `a proof holds 1 to ${params.maxProofNonces} nonces`)
    }
    for (let i = 1; i < nonces.length; i++) {
      if (nonces[i]! <= nonces[i - 1]!) {
        throw new TxRejectedError(
          'BAD_PROOF',
          nonces[i] === nonces[i - 1] ? `duplicate nonce ${nonces[i]}` : 'nonces not sorted',
        )
      }
    }
    if (e.proofs.some(([id]) => id === tx.from))
      throw new TxRejectedError('DUPLICATE', 'already submitted a proof this epoch')
    if (e.commits.some(([id]) => id === tx.from) && !e.reveals.some(([id]) => id === tx.from)) {
      throw new TxRejectedError('NO_REVEAL', 'committed but did not reveal: no weight this epoch')
    }
    putProof(s, tx.from, { epoch: e.number, nonces })
    putEpoch(s, { ...e, proofs: [...e.proofs, [tx.from, nonces.length, proofHash(nonces)]] })
  },
}
