import type { Overlay } from '../state/state.js'
import { getAccount, putAccount, getSupply, putSupply } from '../state/access.js'
import { getEpoch } from '../epoch/access.js'
import { getInferenceParams } from '../task/access.js'
import { TaskKeys } from '../task/records.js'
import { epochWeights } from '../verify/audit.js'
import { pendingProposals, putProposal, recordDecision } from './access.js'
import type { ModelOutcome, ModelProposal } from './records.js'

/** Weight behind each side of a proposal, and the epoch's total weight, under `weights`. */
export interface ModelTally {
  yes: number
  no: number
  total: number
}

/** Count a proposal's votes under an epoch's weights: a voter without weight now counts 0. */
export function tallyModel(
  votes: ReadonlyArray<[string, boolean]>,
  weights: ReadonlyArray<[string, number]>,
): ModelTally {
  const of = new Map(weights)
  let yes = 0
  let no = 0
  for (const [peer, approves] of votes) {
    const w = of.get(peer) ?? 0
    if (approves) yes += w
    else no += w
  }
  return { yes, no, total: weights.reduce((sum, [, w]) => sum + w, 0) }
}

/**
 * SPEC 7: more than half of the epoch's total weight approving approves; more than half
 * refusing rejects; anything else waits for more votes (or the end of the window).
 */
export function outcomeOf(t: ModelTally): 'approved' | 'rejected' | undefined {
  if (2 * t.yes > t.total) return 'approved'
  if (2 * t.no > t.total) return 'rejected'
  return undefined
}

/**
 * Decide `p` if its votes under `weights` decide it, else store it as it is. Approved: the model
 * joins the routable list with its units per token, the deposit returns to the proposer.
 * Rejected: the deposit is burned. Returns the outcome, if any.
 */
export function settleProposal(
  s: Overlay,
  p: ModelProposal,
  weights: ReadonlyArray<[string, number]>,
  epoch: number,
): 'approved' | 'rejected' | undefined {
  const outcome = outcomeOf(tallyModel(p.votes, weights))
  if (outcome === undefined) putProposal(s, p.model, p)
  else close(s, p, outcome, epoch)
  return outcome
}

/**
 * At the start of epoch `epoch` (after activation, with its new weights): a proposal whose window
 * is over expires and its deposit is burned; the others are counted again under the new weights,
 * so one that the new weights decide is decided now.
 */
export function expireProposals(s: Overlay, epoch: number): void {
  const pending = pendingProposals(s)
  if (pending.length === 0) return
  const weights = epochWeights(s, getEpoch(s))
  for (const p of pending) {
    if (epoch >= p.closesAt) close(s, p, 'expired', epoch)
    else settleProposal(s, p, weights, epoch)
  }
}

function close(s: Overlay, p: ModelProposal, outcome: ModelOutcome, epoch: number): void {
  putProposal(s, p.model, null)
  if (outcome === 'approved') {
    const inference = getInferenceParams(s)
    // Genesis refuses governance without inference params (src/ledger/genesis.ts).
    if (inference === undefined) throw new Error('model governance on a chain without inference params')
    s.set(TaskKeys.inference, {
      ...inference,
      models: [...inference.models, [p.model, p.unitsPerToken] as [string, number]],
    })
    const a = getAccount(s, p.proposer)
    putAccount(s, p.proposer, { ...a, balance: a.balance + p.deposit })
  } else if (p.deposit > 0n) {
    const supply = getSupply(s)
    putSupply(s, { ...supply, total: supply.total - p.deposit, burned: supply.burned + p.deposit })
  }
  recordDecision(s, {
    model: p.model,
    unitsPerToken: p.unitsPerToken,
    proposer: p.proposer,
    deposit: p.deposit,
    outcome,
    epoch,
  })
}
