import {
  epochWeights,
  getGovernanceParams,
  getInferenceParams,
  pendingProposals,
  recentDecisions,
  tallyModel,
  type ModelOutcome,
  type StateReader,
} from '../../../ledger/index.js'
import { getEpoch } from '../../../ledger/epoch/access.js'

/** One side's weight as a share of the epoch's total: basis points and a fraction. */
export interface WeightShare {
  weight: number
  bps: number
  fraction: number
}

/** A pending proposal with its votes counted under the current epoch's weights. */
export interface PendingModelView {
  id: string
  unitsPerToken: number
  proposer: string
  /** Escrowed: returned on approval, burned otherwise; base units. */
  deposit: string
  /** Epoch it was proposed in. */
  epoch: number
  /** It expires as this epoch begins unless decided before; votes count in the epochs before it. */
  closesAt: number
  votes: Array<{ peer: string; approve: boolean; weight: number }>
  yes: WeightShare
  no: WeightShare
}

/** `GET /models/governance`: approved models, pending proposals, recent decisions. */
export interface ModelGovernanceView {
  /** The chain's governance params, or null when it adds no models by vote. */
  governance: { modelDeposit: string; modelVotingEpochs: number; maxPendingModels: number } | null
  epoch: number
  /** The current epoch's total weight: a side needs more than half of it. */
  totalWeight: number
  /** Routable models, in the order they were approved (genesis first). */
  approved: Array<{ id: string; unitsPerToken: number }>
  pending: PendingModelView[]
  /** The last decided proposals, oldest first. */
  recent: Array<{
    id: string
    unitsPerToken: number
    proposer: string
    deposit: string
    outcome: ModelOutcome
    epoch: number
  }>
}

function share(weight: number, total: number): WeightShare {
  return {
    weight,
    bps: total === 0 ? 0 : Math.floor((weight * 10_000) / total),
    fraction: total === 0 ? 0 : weight / total,
  }
}

export function modelGovernanceView(state: StateReader): ModelGovernanceView {
  const gov = getGovernanceParams(state)
  const epoch = getEpoch(state)
  const weights = epochWeights(state, epoch)
  const of = new Map(weights)
  const totalWeight = weights.reduce((sum, [, w]) => sum + w, 0)
  return {
    governance:
      gov === undefined
        ? null
        : {
            modelDeposit: gov.modelDeposit.toString(),
            modelVotingEpochs: gov.modelVotingEpochs,
            maxPendingModels: gov.maxPendingModels,
          },
    epoch: epoch?.number ?? 0,
    totalWeight,
    approved: (getInferenceParams(state)?.models ?? []).map(([id, unitsPerToken]) => ({ id, unitsPerToken })),
    pending: pendingProposals(state).map((p) => {
      const t = tallyModel(p.votes, weights)
      return {
        id: p.model,
        unitsPerToken: p.unitsPerToken,
        proposer: p.proposer,
        deposit: p.deposit.toString(),
        epoch: p.epoch,
        closesAt: p.closesAt,
        votes: p.votes.map(([peer, approve]) => ({ peer, approve, weight: of.get(peer) ?? 0 })),
        yes: share(t.yes, t.total),
        no: share(t.no, t.total),
      }
    }),
    recent: recentDecisions(state).map((d) => ({
      id: d.model,
      unitsPerToken: d.unitsPerToken,
      proposer: d.proposer,
      deposit: d.deposit.toString(),
      outcome: d.outcome,
      epoch: d.epoch,
    })),
  }
}
