import { read } from '../../codec.js'
import { verifySignature } from '../../crypto.js'
import { TxRejectedError } from '../../errors.js'
import { getEpoch, getRaceParams, putEpoch } from '../../epoch/access.js'
import { proofCommittee } from '../../epoch/committee.js'
import { sampleMessage } from '../../epoch/seed.js'
import { getValidatorEntries } from '../../state/access.js'
import type { TxType } from '../tx.js'
import { inPhase } from './randCommit.js'

export interface ProofVerdictBody {
  epoch: number
  prover: string
  accepted: boolean
  /** Sampled nonces that failed beyond the tolerance. */
  failures: number
  /** The validator's signature over the sample message: its VRF proof, which fixed the sample. */
  vrfSig: Uint8Array
}

/**
 * SPEC 4.5: a validator's verdict on one proof, after recomputing the nonces its VRF picked. The
 * VRF signature is checked here, so the sample was not the validator's choice either.
 */
export const proofVerdict: TxType<ProofVerdictBody> = {
  name: 'ProofVerdict',
  encodeBody: (b) => [b.epoch, b.prover, b.accepted, b.failures, b.vrfSig],
  decodeBody: (v) => {
    const [e, p, a, f, sig] = read.array(v, 5, 'ProofVerdict')
    return {
      epoch: read.uint(e, 'epoch'),
      prover: read.string(p, 64, 'prover'),
      accepted: read.bool(a, 'accepted'),
      failures: read.uint(f, 'failures'),
      vrfSig: read.bytes(sig, 'vrfSig', 64),
    }
  },
  fromJson: () => {
    throw new TxRejectedError('BAD_BODY', 'verdicts are posted by the daemon itself')
  },
  toJson: (b) => ({ epoch: b.epoch, prover: b.prover, accepted: b.accepted, failures: b.failures }),
  apply: (s, tx) => {
    const e = inPhase(getEpoch(s), 'validate', tx.body.epoch)
    if (!getValidatorEntries(s).some((v) => v.id === tx.from && v.power > 0)) {
      throw new TxRejectedError('NOT_VALIDATOR', 'only validators judge proofs')
    }
    const proof = e.proofs.find(([id]) => id === tx.body.prover)
    if (proof === undefined)
      throw new TxRejectedError('NO_PROOF', `no proof from ${tx.body.prover} this epoch`)
    const params = getRaceParams(s)
    if (params !== undefined && !proofCommittee(s, e, params, tx.body.prover).includes(tx.from))
      throw new TxRejectedError('NOT_IN_COMMITTEE', `not on the committee that judges ${tx.body.prover}`)
    if (e.verdicts.some(([p, v]) => p === tx.body.prover && v === tx.from)) {
      throw new TxRejectedError('DUPLICATE', 'already judged this proof')
    }
    if (!verifySignature(tx.from, sampleMessage(e.number, tx.body.prover, proof[2]), tx.body.vrfSig)) {
      throw new TxRejectedError('BAD_VRF', 'the VRF signature does not verify')
    }
    putEpoch(s, { ...e, verdicts: [...e.verdicts, [tx.body.prover, tx.from, tx.body.accepted]] })
  },
}
