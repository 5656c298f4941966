import { read, json } from '../../codec.js'
import { TxRejectedError } from '../../errors.js'
import { getEpoch } from '../../epoch/access.js'
import { unitsPerToken } from '../../task/access.js'
import { epochWeights } from '../../verify/audit.js'
import { getGovernanceParams, getProposal } from '../../models/access.js'
import { settleProposal } from '../../models/decide.js'
import { readModelId } from '../../models/records.js'
import type { TxType } from '../tx.js'

export interface ModelVoteBody {
  model: string
  /** true: approve the model; false: reject it. */
  approve: boolean
}

/**
 * SPEC 7: a peer with weight in the current epoch votes on a pending proposal; its vote replaces
 * any earlier one of its. The vote that gives one side more than half of the epoch's total weight
 * decides at once: approved, the model is routable from the next transaction on and the deposit
 * returns; rejected, the deposit is burned. Refused: NO_PROPOSAL (none pending for that model, or
 * MODEL_APPROVED when it was approved), NO_WEIGHT (the sender has no weight this epoch).
 */
export const modelVote: TxType<ModelVoteBody> = {
  name: 'ModelVote',
  encodeBody: (b) => [b.model, b.approve],
  decodeBody: (v) => {
    const [m, a] = read.array(v, 2, 'ModelVote')
    return { model: readModelId(m), approve: read.bool(a, 'approve') }
  },
  fromJson: (v) => {
    const o = json.object(v, 'body')
    return { model: readModelId(o.model), approve: read.bool(o.approve, 'approve') }
  },
  toJson: (b) => ({ model: b.model, approve: b.approve }),
  apply: (s, tx) => {
    if (getGovernanceParams(s) === undefined)
      throw new TxRejectedError('NO_GOVERNANCE', 'this chain adds no models by vote')
    const { model, approve } = tx.body
    const p = getProposal(s, model)
    if (p === undefined) {
      if (unitsPerToken(s, model) !== undefined)
        throw new TxRejectedError('MODEL_APPROVED', `model ${model} is approved already`)
      throw new TxRejectedError('NO_PROPOSAL', `no proposal for model ${model} is pending`)
    }
    const epoch = getEpoch(s)
    const weights = epochWeights(s, epoch)
    if (!weights.some(([peer]) => peer === tx.from))
      throw new TxRejectedError('NO_WEIGHT', `${tx.from} has no weight in this epoch`)
    const votes = [...p.votes.filter(([peer]) => peer !== tx.from), [tx.from, approve] as [string, boolean]]
    votes.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    settleProposal(s, { ...p, votes }, weights, epoch?.number ?? 0)
  },
}
