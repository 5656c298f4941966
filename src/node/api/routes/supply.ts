import type { ApiRoute } from '../server.js'
import type { ApiContext } from '../context.js'
import { HttpError } from '../errors.js'
import type { Payout } from '../../../ledger/economics/records.js'
import { getSupply } from '../../../ledger/state/access.js'
import { getEconParams, getEconState, getPayout } from '../../../ledger/economics/access.js'
import { getEpoch } from '../../../ledger/epoch/access.js'
import {
  batchOf,
  minimumIssuance,
  ratioBps,
  ratioOf,
  scheduleTable,
} from '../../../ledger/economics/subsidy.js'

/** `GET /ledger/supply`: what `cordex ledger supply` prints. Amounts are decimal strings of base units. */
export interface SupplyView {
  total: string
  minted: string
  burned: string
  /** Null on a chain that mints nothing (no genesis `economics`). */
  economics: {
    cap: string
    batch: number
    ratioBps: number
    /** Minted so far in the current batch. */
    batchMinted: string
    batchSize: string
    /** This year's minimum issuance (the whole year), and the year counted from genesis. */
    year: number
    minIssuanceThisYear: string
    /** The last epoch paid (`GET /ledger/payouts/:epoch` for others). */
    lastPayout: PayoutView | null
    /** The whole schedule from genesis: batch, ratio, fees that mint it, paid to hosts over it. */
    schedule: Array<{ batch: number; minted: string; ratioBps: number; fees: string; paid: string }>
  } | null
}

/** One epoch's payout (src/ledger/economics/records.ts `Payout`), amounts as decimal strings. */
export interface PayoutView {
  epoch: number
  time: string
  durationMs: number
  mintedBefore: string
  batch: number
  ratioBps: number
  eligibleFees: string
  feeSubsidy: string
  minimum: string
  minted: string
  totalWeight: number
  hosts: Array<{ peer: string; weight: number; fees: string; subsidy: string; eligible: boolean }>
}

export function payoutView(p: Payout): PayoutView {
  return {
    epoch: p.epoch,
    time: new Date(p.time).toISOString(),
    durationMs: p.durationMs,
    mintedBefore: String(p.mintedBefore),
    batch: p.batch,
    ratioBps: p.ratioBps,
    eligibleFees: String(p.eligibleFees),
    feeSubsidy: String(p.feeSubsidy),
    minimum: String(p.minimum),
    minted: String(p.minted),
    totalWeight: p.totalWeight,
    hosts: p.hosts.map(([peer, weight, fees, subsidy, eligible]) => ({
      peer,
      weight,
      fees: String(fees),
      subsidy: String(subsidy),
      eligible,
    })),
  }
}

/** `GET /ledger/payouts/:epoch`: an epoch's payout, while the ledger keeps it (the last 64). */
export function payoutRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'GET',
    path: '/ledger/payouts/:epoch',
    handler: async (req) => {
      const epoch = Number(req.params.epoch)
      if (!/^\d{1,12}$/.test(req.params.epoch ?? '')) throw new HttpError(400, 'BAD_EPOCH', 'an epoch number')
      const p = getPayout(ctx.chain.replica.state, epoch)
      if (p === undefined) throw new HttpError(404, 'NOT_FOUND', `no payout of epoch ${epoch} is kept`)
      return payoutView(p)
    },
  }
}

export function supplyRoute(ctx: ApiContext): ApiRoute {
  return {
    method: 'GET',
    path: '/ledger/supply',
    handler: async () => {
      const state = ctx.chain.replica.state
      const supply = getSupply(state)
      const p = getEconParams(state)
      const econ = getEconState(state)
      const base = {
        total: String(supply.total),
        minted: String(supply.minted),
        burned: String(supply.burned),
      }
      if (p === undefined || econ === undefined) return { ...base, economics: null } satisfies SupplyView
      const batch = batchOf(p, supply.minted)
      const year = Math.floor(Math.max(0, ctx.chain.head.time - econ.genesisTime) / p.yearMs)
      const epoch = getEpoch(state)?.number ?? 0
      // Audits close at the end of the next epoch: the last payout is of two epochs back.
      const last = getPayout(state, epoch - 2) ?? getPayout(state, epoch - 1)
      // The schedule counts from genesis: what genesis issued plus the cap's room for subsidies.
      const genesisIssued = supply.total + supply.burned - supply.minted
      return {
        ...base,
        economics: {
          cap: String(p.supplyCap),
          batch,
          ratioBps: ratioBps(ratioOf(p, batch)),
          batchMinted: String(supply.minted - BigInt(batch) * p.batchSize),
          batchSize: String(p.batchSize),
          year,
          minIssuanceThisYear: String(minimumIssuance(p, year * p.yearMs, p.yearMs)),
          lastPayout: last === undefined ? null : payoutView(last),
          schedule: scheduleTable(p, p.supplyCap > genesisIssued ? p.supplyCap - genesisIssued : 0n).map(
            (r) => ({
              batch: r.batch,
              minted: String(r.minted),
              ratioBps: r.ratioBps,
              fees: String(r.fees),
              paid: String(r.paid),
            }),
          ),
        },
      } satisfies SupplyView
    },
  }
}
