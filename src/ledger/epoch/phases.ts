import type { Overlay } from '../state/state.js'
import {
  getAccount,
  putAccount,
  getSupply,
  putSupply,
  getValidatorEntries,
  putValidatorEntries,
  getParams,
} from '../state/access.js'
import { ValidatorSet } from '../consensus/validatorSet.js'
import { getEpoch, getRaceParams, putEpoch, proofDeadline } from './access.js'
import { raceSeed, fallbackSeed } from './seed.js'
import { proofCommittee } from './committee.js'
import { freshEpoch, type EpochState, type RaceParams } from './records.js'
import { getVerifyParams, takeHeld } from '../verify/access.js'
import { closeAudit, epochWeights, openAudit, payHeld } from '../verify/audit.js'
import { expireProposals } from '../models/decide.js'
import { settlePrice } from '../price/tally.js'

/**
 * SPEC 4 phases, before a block's transactions: serve → commit at the epoch's `raceStart`;
 * commit → reveal after `commitBlocks`; race →
 * validate once the block's time is past the proof deadline; validate → activation and a new
 * epoch once the verdict window is over.
 */
export function beginBlock(s: Overlay, height: number, time: number): void {
  const p = getRaceParams(s)
  const e = getEpoch(s)
  if (p === undefined || e === undefined) return
  if (e.phase === 'serve' && height >= e.raceStart) {
    putEpoch(s, { ...e, phase: 'commit', phaseStart: height })
  } else if (e.phase === 'commit' && height >= e.phaseStart + p.commitBlocks) {
    putEpoch(s, { ...e, phase: 'reveal', phaseStart: height })
  } else if (e.phase === 'race' && time > proofDeadline(e, p)) {
    putEpoch(s, { ...e, phase: 'validate', phaseStart: height })
  } else if (e.phase === 'validate' && time >= proofDeadline(e, p) + p.validateMs) {
    activate(s, e, p, height, time)
  }
}

/**
 * After a block's transactions: the block that ends the reveal phase is the starting gun. The
 * seed is derived from the reveals (or falls back, when the revealers hold too little power),
 * committers that did not reveal are penalized, and the Race begins at this block's time.
 */
export function endBlock(s: Overlay, height: number, time: number, parentHash: Uint8Array): void {
  const p = getRaceParams(s)
  const e = getEpoch(s)
  if (
    p === undefined ||
    e === undefined ||
    e.phase !== 'reveal' ||
    height < e.phaseStart + p.revealBlocks - 1
  )
    return
  const validators = new ValidatorSet(getValidatorEntries(s), height)
  const revealed = e.reveals.reduce((sum, [id]) => sum + validators.powerOf(id), 0)
  const enough = revealed * 10_000 > p.minRevealBps * validators.total
  // SPEC 4: withholding a reveal must never pay.
  for (const [id] of e.commits) {
    if (e.reveals.some(([r]) => r === id)) continue
    // The fine, and the rewards it holds (SPEC 4: a committer that withholds forfeits them).
    const acct = getAccount(s, id)
    const fine = acct.balance < p.noRevealPenalty ? acct.balance : p.noRevealPenalty
    putAccount(s, id, { ...acct, balance: acct.balance - fine })
    const forfeit = takeHeld(s, id)
    const supply = getSupply(s)
    putSupply(s, { ...supply, total: supply.total - fine - forfeit, burned: supply.burned + fine + forfeit })
  }
  putEpoch(s, {
    ...e,
    phase: 'race',
    phaseStart: height,
    seed: enough ? raceSeed(e.prevSeed, e.reveals) : fallbackSeed(e.prevSeed, parentHash),
    fallback: !enough,
    gunTime: time,
  })
}

/**
 * SPEC 4.6: proofs accepted by more than half of their committee's power become the weights,
 * and the weights become the validator set. With no accepted proof the set stays as it was (a
 * chain never loses all its validators).
 */
function activate(s: Overlay, e: EpochState, p: RaceParams, height: number, time: number): void {
  const entries = getValidatorEntries(s)
  const validators = new ValidatorSet(entries, height)
  const weights: Array<[string, number]> = []
  for (const [prover, count] of e.proofs) {
    const committee = proofCommittee(s, e, p, prover)
    const judges = committee.reduce((sum, v) => sum + validators.powerOf(v), 0)
    const accepting = e.verdicts
      .filter(([pr, v, ok]) => pr === prover && ok && committee.includes(v))
      .reduce((sum, [, v]) => sum + validators.powerOf(v), 0)
    if (2 * accepting > judges)
      weights.push([prover, p.maxWeightPerPeer > 0 ? Math.min(count, p.maxWeightPerPeer) : count])
  }
  // SPEC 7: the weighted median of the price votes of the peers with weight in the ending epoch
  // (read before the new weights replace the validators) is the next epoch's price.
  settlePrice(s, epochWeights(s, e))
  if (weights.length > 0) {
    putValidatorEntries(
      s,
      weights.map(([id, power]) => ({
        id,
        power,
        jailedUntil: entries.find((v) => v.id === id)?.jailedUntil ?? 0,
      })),
    )
  }
  // The next Race begins `epochBlocks` after this one began; the blocks between serve inference only.
  const next = freshEpoch(
    e.number + 1,
    height,
    e.seed ?? e.prevSeed,
    weights,
    e.raceStart + getParams(s).epochBlocks,
  )
  putEpoch(s, next)
  // SPEC 7: model proposals past their window expire; the rest are counted under the new weights.
  expireProposals(s, next.number)
  // SPEC 7: rewards are paid when their epoch's audit closes, at the end of the next epoch
  // (docs/verification.md); a chain without verification pays each epoch's at its end.
  if (getVerifyParams(s) === undefined) payHeld(s, e.number)
  else {
    closeAudit(s, e.number - 1, time)
    openAudit(s, next.number, epochWeights(s, next))
  }
}
