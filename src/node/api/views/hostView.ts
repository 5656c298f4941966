import {
  BPS,
  VerifyKeys,
  checkRateBps,
  getAudit,
  getHost,
  getStanding,
  getVerifyParams,
  heldOf,
  weightIn,
  type StateReader,
} from '../../../ledger/index.js'
import { getEpoch } from '../../../ledger/epoch/access.js'

/** `GET /hosts/:id`: a peer's standing as a host and a verifier; amounts as decimal strings of base units. */
export interface HostView {
  id: string
  /** The current epoch. */
  epoch: number
  /** Its HostAnnounce, or null when it announced none. */
  host: { models: string[]; priceVote: string; fingerprint: string; addrs: string[]; since: number } | null
  /** Epochs without confirmed fraud, up to `reputationCap`. */
  reputation: number
  /** null when the chain checks no tasks. */
  reputationCap: number | null
  /** The share of its tasks checked now (set by its reputation); null when the chain checks no tasks. */
  checkRate: { bps: number; fraction: number } | null
  /** Rewards earned and not paid yet, all epochs together. */
  held: string
  /** Drawn for no task while the epoch is below this. */
  jailedUntilEpoch: number
  jailed: boolean
  /** Epochs of its confirmed frauds, oldest first (the last 16). */
  frauds: number[]
  /** Its accusations the majority rejected. */
  falseAccusations: number
  /** The audits still in state in which it had weight or a duty, newest first. */
  audits: Array<{
    epoch: number
    closed: boolean
    /** Its weight in the epoch (how much its votes count; 0: it checks nothing). */
    weight: number
    /** It revealed its selection key for the epoch (its duty is then known). */
    revealed: boolean
    /** Checks it was drawn for, and did; null until it reveals its key. */
    assigned: number | null
    done: number | null
    /** It forfeited the epoch's rewards for skipping checks; null while the audit is open. */
    skipped: boolean | null
  }>
}

/**
 * A peer's view, or undefined when the chain knows nothing of it as a host or a verifier: no
 * HostAnnounce, no standing, no weight or duty in an audit in state, no held rewards.
 */
export function hostView(state: StateReader, peer: string): HostView | undefined {
  const epoch = getEpoch(state)?.number ?? 0
  const params = getVerifyParams(state)
  const host = getHost(state, peer)
  const hasStanding = state.get(VerifyKeys.standing(peer)) !== undefined
  const standing = getStanding(state, peer)
  const held = heldOf(state, peer)
  const audits: HostView['audits'] = []
  // Audits live from their epoch until `disputeEpochs` more have closed after them (audit E closes
  // at the end of epoch E + 1): this window holds every one still in state.
  const oldest = Math.max(0, epoch - (params?.disputeEpochs ?? 0) - 2)
  for (let e = epoch; e >= oldest && params !== undefined; e--) {
    const a = getAudit(state, e)
    if (a === undefined) continue
    const weight = weightIn(a, peer)
    const duty = a.duties.find(([p]) => p === peer)
    if (weight === 0 && duty === undefined) continue
    audits.push({
      epoch: a.epoch,
      closed: a.closed,
      weight,
      revealed: duty !== undefined,
      assigned: duty?.[1] ?? null,
      done: duty?.[2] ?? null,
      skipped: a.closed ? a.skipped.includes(peer) : null,
    })
  }
  if (host === undefined && !hasStanding && audits.length === 0 && held === 0n) return undefined
  const bps =
    params === undefined
      ? null
      : checkRateBps(standing.reputation, params.reputationCap, params.minCheckRateBps)
  return {
    id: peer,
    epoch,
    host:
      host === undefined
        ? null
        : {
            models: host.models,
            priceVote: host.priceVote.toString(),
            fingerprint: host.fingerprint,
            addrs: host.addrs,
            since: host.since,
          },
    reputation: standing.reputation,
    reputationCap: params?.reputationCap ?? null,
    checkRate: bps === null ? null : { bps, fraction: bps / BPS },
    held: held.toString(),
    jailedUntilEpoch: standing.jailedUntilEpoch,
    // As routing reads it (src/ledger/task/route.ts): jailed while the epoch is below the bound.
    jailed: standing.jailedUntilEpoch > epoch,
    frauds: [...standing.frauds],
    falseAccusations: standing.falseAccusations,
    audits,
  }
}
