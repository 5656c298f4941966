import { read, json } from '../../codec.js'
import { fromHex, toHex } from '../../crypto.js'
import { TxRejectedError } from '../../errors.js'
import { getEpoch, getRaceParams, putEpoch, proofDeadline } from '../../epoch/access.js'
import type { TxType } from '../tx.js'
import { inPhase } from './randCommit.js'

export interface RaceProofBody {
  epoch: number
  /** Merkle root over the prover's valid nonces, strictly increasing (src/race/merkle.ts). */
  root: Uint8Array
  /** How many nonces the root covers: the weight claimed. */
  count: number
}

/**
 * SPEC 4 proof submission, as a commitment: the Merkle root of the sender's valid nonces of this
 * epoch's Race and their count, before the deadline. The transaction's size does not depend on the
 * count. The list itself is served by the prover over the `proof` protocol: each validator on the
 * proof's committee fetches the nonces its VRF samples, with their openings, and recomputes them
 * (a prover that does not serve them is rejected). Here only the form, the phase, the deadline,
 * the count's bound, and that a committer revealed.
 */
export const raceProof: TxType<RaceProofBody> = {
  name: 'RaceProof',
  // One proof per peer per epoch, only while the Race is open: bounded without a fee.
  feeExempt: true,
  encodeBody: (b) => [b.epoch, b.root, b.count],
  decodeBody: (v) => {
    const [e, r, c] = read.array(v, 3, 'RaceProof')
    return { epoch: read.uint(e, 'epoch'), root: read.bytes(r, 'root', 32), count: read.uint(c, 'count') }
  },
  fromJson: (v) => {
    const o = json.object(v, 'body')
    if (typeof o.root !== 'string' || !/^[0-9a-f]{64}$/.test(o.root))
      throw new TxRejectedError('BAD_BODY', 'root: 64 lowercase hex digits')
    return { epoch: read.uint(o.epoch, 'epoch'), root: fromHex(o.root), count: read.uint(o.count, 'count') }
  },
  toJson: (b) => ({ epoch: b.epoch, root: toHex(b.root), count: b.count }),
  apply: (s, tx, ctx) => {
    const params = getRaceParams(s)!
    const e = inPhase(getEpoch(s), 'race', tx.body.epoch)
    if (ctx.time > proofDeadline(e, params)) {
      throw new TxRejectedError(
        'LATE',
        `the proof deadline passed ${ctx.time - proofDeadline(e, params)} ms before this block`,
      )
    }
    const { count, root } = tx.body
    if (count === 0 || count > params.maxProofNonces) {
      throw new TxRejectedError('BAD_PROOF', `a proof holds 1 to ${params.maxProofNonces} nonces`)
    }
    if (e.proofs.some(([id]) => id === tx.from))
      throw new TxRejectedError('DUPLICATE', 'already submitted a proof this epoch')
    if (e.commits.some(([id]) => id === tx.from) && !e.reveals.some(([id]) => id === tx.from)) {
      throw new TxRejectedError('NO_REVEAL', 'committed but did not reveal: no weight this epoch')
    }
    putEpoch(s, { ...e, proofs: [...e.proofs, [tx.from, count, root]] })
  },
}
