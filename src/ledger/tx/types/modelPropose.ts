import { read, json } from '../../codec.js'
import { TxRejectedError } from '../../errors.js'
import { getAccount, putAccount } from '../../state/access.js'
import { getEpoch } from '../../epoch/access.js'
import { getInferenceParams } from '../../task/access.js'
import { MAX_MODELS } from '../../task/records.js'
import { getGovernanceParams, getProposal, pendingModelIds, putProposal } from '../../models/access.js'
import { MAX_PENDING_MODELS, readModelId, readUnits } from '../../models/records.js'
import type { TxType } from '../tx.js'

export interface ModelProposeBody {
  /** `name@hash`, as the engine derives it from the model folder's manifest. */
  model: string
  /** Units of compute per token of the model. */
  unitsPerToken: number
}

/**
 * SPEC 7 (seed 004, appendix J): anyone proposes a model for the routable list, escrowing the
 * chain's `modelDeposit`. Refused for a model approved already (MODEL_APPROVED) or with a proposal
 * pending (MODEL_PENDING), and when `maxPendingModels` proposals are pending or the list is full
 * (PROPOSALS_FULL). Voting is open from this epoch for `modelVotingEpochs` epochs.
 */
export const modelPropose: TxType<ModelProposeBody> = {
  name: 'ModelPropose',
  encodeBody: (b) => [b.model, b.unitsPerToken],
  decodeBody: (v) => {
    const [m, u] = read.array(v, 2, 'ModelPropose')
    return { model: readModelId(m), unitsPerToken: readUnits(u) }
  },
  fromJson: (v) => {
    const o = json.object(v, 'body')
    return { model: readModelId(o.model), unitsPerToken: readUnits(o.unitsPerToken) }
  },
  toJson: (b) => ({ model: b.model, unitsPerToken: b.unitsPerToken }),
  apply: (s, tx, ctx) => {
    const gov = getGovernanceParams(s)
    const inference = getInferenceParams(s)
    if (gov === undefined || inference === undefined)
      throw new TxRejectedError('NO_GOVERNANCE', 'this chain adds no models by vote')
    const { model, unitsPerToken } = tx.body
    if (inference.models.some(([m]) => m === model))
      throw new TxRejectedError('MODEL_APPROVED', `model ${model} is approved already`)
    if (getProposal(s, model) !== undefined)
      throw new TxRejectedError('MODEL_PENDING', `model ${model} has a proposal pending`)
    const pending = pendingModelIds(s)
    // The index of pending ids decodes at most MAX_PENDING_MODELS, whatever genesis says.
    if (pending.length >= Math.min(gov.maxPendingModels, MAX_PENDING_MODELS))
      throw new TxRejectedError('PROPOSALS_FULL', `${pending.length} proposals are pending, the most allowed`)
    if (inference.models.length + pending.length >= MAX_MODELS)
      throw new TxRejectedError('PROPOSALS_FULL', `the model list holds ${MAX_MODELS} models at most`)
    const acct = getAccount(s, tx.from)
    if (acct.balance < gov.modelDeposit)
      throw new TxRejectedError(
        'INSUFFICIENT_FUNDS',
        `balance ${acct.balance} cannot pay the model deposit ${gov.modelDeposit}`,
      )
    putAccount(s, tx.from, { ...acct, balance: acct.balance - gov.modelDeposit })
    const epoch = getEpoch(s)?.number ?? 0
    putProposal(s, model, {
      model,
      unitsPerToken,
      proposer: tx.from,
      deposit: gov.modelDeposit,
      epoch,
      closesAt: epoch + gov.modelVotingEpochs,
      height: ctx.height,
      votes: [],
    })
  },
}
