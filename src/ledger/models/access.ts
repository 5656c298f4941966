import type { Overlay, StateReader } from '../state/state.js'
import {
  ModelKeys,
  RECENT_DECISIONS,
  type GovernanceParams,
  type ModelDecision,
  type ModelProposal,
} from './records.js'

export function getGovernanceParams(s: StateReader): GovernanceParams | undefined {
  return s.get(ModelKeys.governance) as GovernanceParams | undefined
}

/** Ids of the pending proposals, oldest first. */
export function pendingModelIds(s: StateReader): string[] {
  return (s.get(ModelKeys.pendingModels) as string[] | undefined) ?? []
}

export function getProposal(s: StateReader, model: string): ModelProposal | undefined {
  return s.get(ModelKeys.proposal(model)) as ModelProposal | undefined
}

/** The pending proposals, oldest first. */
export function pendingProposals(s: StateReader): ModelProposal[] {
  return pendingModelIds(s).flatMap((m) => getProposal(s, m) ?? [])
}

/** Deposits held in pending proposals: a holding of the supply, like escrows. */
export function proposalDeposits(s: StateReader): bigint {
  return pendingProposals(s).reduce((sum, p) => sum + p.deposit, 0n)
}

/** Store a proposal (and list it as pending), or with `null` remove it from both. */
export function putProposal(s: Overlay, model: string, p: ModelProposal | null): void {
  const ids = pendingModelIds(s)
  if (p === null) {
    s.delete(ModelKeys.proposal(model))
    const rest = ids.filter((m) => m !== model)
    if (rest.length === 0) s.delete(ModelKeys.pendingModels)
    else s.set(ModelKeys.pendingModels, rest)
    return
  }
  s.set(ModelKeys.proposal(model), p)
  if (!ids.includes(model)) s.set(ModelKeys.pendingModels, [...ids, model])
}

/** The last decided proposals, oldest first. */
export function recentDecisions(s: StateReader): ModelDecision[] {
  return (s.get(ModelKeys.recentModels) as ModelDecision[] | undefined) ?? []
}

export function recordDecision(s: Overlay, d: ModelDecision): void {
  s.set(ModelKeys.recentModels, [...recentDecisions(s), d].slice(-RECENT_DECISIONS))
}
