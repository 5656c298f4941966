import type { Overlay } from '../state/state.js'
import { getAccount, putAccount, getSupply, putSupply } from '../state/access.js'
import { getStanding } from '../verify/access.js'
import { dropPayout, getEconParams, getEconState, putEconState, putPayout } from './access.js'
import { KEEP_PAYOUTS, type EconParams, type Payout } from './records.js'
import { batchOf, minimumIssuance, ratioBps, ratioOf, subsidyFor } from './subsidy.js'

const BPS = 10_000n

/**
 * Whether a host earns the subsidy (docs/economics.md, "Epoch rewards"): not convicted of fraud
 * in the epoch, and paid fees of at least `minWorkBps` of what its weight's share of the epoch's
 * fees would be (tasks are routed by weight, so a host that turns its tasks away falls short). A
 * host without weight that was paid (a checker whose weight ended) did more than its share.
 */
export function earnsSubsidy(
  p: EconParams,
  fees: bigint,
  weight: number,
  totalFees: bigint,
  totalWeight: number,
  convicted: boolean,
): boolean {
  if (convicted || fees === 0n) return false
  return fees * BigInt(totalWeight) * BPS >= BigInt(p.minWorkBps) * BigInt(weight) * totalFees
}

/**
 * Pay an epoch's rewards at its audit's close (SPEC 7): every host gets its held fees (what is
 * left after the audit's forfeits), and the hosts that earn the subsidy share
 * max(the schedule's subsidy on their fees, the epoch's minimum issuance) in proportion to their
 * fees, floored per host; nothing past the cap. `held`: (peer, fees) of the epoch; `weights`: the
 * epoch's. A chain without `economics` pays the fees alone.
 */
export function payEpoch(
  s: Overlay,
  epoch: number,
  held: Array<[string, bigint]>,
  weights: Array<[string, number]>,
  time: number,
): void {
  const params = getEconParams(s)
  const econ = getEconState(s)
  if (params === undefined || econ === undefined) {
    for (const [peer, fees] of held) credit(s, peer, fees)
    return
  }
  const supply = getSupply(s)
  const totalFees = held.reduce((sum, [, f]) => sum + f, 0n)
  const totalWeight = weights.reduce((sum, [, w]) => sum + w, 0)
  const weightOf = new Map(weights)
  const hosts = held.map(([peer, fees]): [string, bigint, boolean] => [
    peer,
    fees,
    earnsSubsidy(
      params,
      fees,
      weightOf.get(peer) ?? 0,
      totalFees,
      totalWeight,
      getStanding(s, peer).frauds.includes(epoch),
    ),
  ])
  const eligibleFees = hosts.reduce((sum, [, f, ok]) => (ok ? sum + f : sum), 0n)
  // Everything ever issued (genesis and minted) stays within the cap, burns notwithstanding.
  const issued = supply.total + supply.burned
  const room = params.supplyCap > issued ? params.supplyCap - issued : 0n
  const feeSubsidy = subsidyFor(params, eligibleFees, supply.minted, room)
  const durationMs = Math.max(0, time - econ.lastPayout)
  const minimum = minimumIssuance(params, time - econ.genesisTime, durationMs)
  const floor = minimum < room ? minimum : room
  const pool = feeSubsidy > floor ? feeSubsidy : floor
  let minted = 0n
  const rows: Payout['hosts'] = []
  for (const [peer, fees, ok] of hosts) {
    const subsidy = ok && eligibleFees > 0n ? (pool * fees) / eligibleFees : 0n
    minted += subsidy
    credit(s, peer, fees + subsidy)
    rows.push([peer, weightOf.get(peer) ?? 0, fees, subsidy, ok])
  }
  putSupply(s, { ...supply, total: supply.total + minted, minted: supply.minted + minted })
  const batch = batchOf(params, supply.minted)
  putPayout(s, {
    epoch,
    time,
    durationMs,
    mintedBefore: supply.minted,
    batch,
    ratioBps: ratioBps(ratioOf(params, batch)),
    eligibleFees,
    feeSubsidy,
    minimum,
    minted,
    totalWeight,
    hosts: rows,
  })
  dropPayout(s, epoch - KEEP_PAYOUTS)
  putEconState(s, { ...econ, lastPayout: time })
}

function credit(s: Overlay, peer: string, amount: bigint): void {
  if (amount === 0n) return
  const a = getAccount(s, peer)
  putAccount(s, peer, { ...a, balance: a.balance + amount })
}
