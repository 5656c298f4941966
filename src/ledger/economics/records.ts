import { read, amount } from '../codec.js'

/** Genesis `economics` (SPEC 7, docs/economics.md): the subsidy schedule and who earns it. */
export interface EconParams {
  /** Nothing is ever minted past it: genesis supply plus everything minted stays at or below. */
  supplyCap: bigint
  /** Subsidies are minted in batches of this many base units (default 5% of the cap). */
  batchSize: bigint
  /** The subsidy ratio while the first batch is minted, basis points (default 9000). */
  firstRatioBps: number
  /** The share by which the ratio falls with each batch, basis points (default 2000). */
  decayBps: number
  /** The first year's minimum issuance, basis points of the cap (default 500); it halves yearly. */
  minIssuanceBps: number
  /** A year, ms (the minimum issuance's period). */
  yearMs: number
  /**
   * A host earns the subsidy only when its fees are at least this share of what its weight would
   * route to it (basis points of weight share × the epoch's fees; default 5000).
   */
  minWorkBps: number
}

/** The economics' running record: when rewards were last paid (the minimum issuance's clock). */
export interface EconState {
  genesisTime: number
  lastPayout: number
}

/** One epoch's payout, kept for `GET /ledger/supply`, the CLI and audits (the last `KEEP_PAYOUTS`). */
export interface Payout {
  epoch: number
  /** Block time of the payout and the time since the one before, ms. */
  time: number
  durationMs: number
  /** Minted before this payout, and the batch and ratio (basis points, rounded) it began in. */
  mintedBefore: bigint
  batch: number
  ratioBps: number
  /** Fees of the hosts that earn the subsidy; what those fees earn; the epoch's minimum issuance. */
  eligibleFees: bigint
  feeSubsidy: bigint
  minimum: bigint
  /** Minted in all (a share of max(feeSubsidy, minimum), floored per host). */
  minted: bigint
  /** The epoch's total weight; per host paid: its weight, fees, subsidy, whether it earned the subsidy. */
  totalWeight: number
  hosts: Array<[peer: string, weight: number, fees: bigint, subsidy: bigint, eligible: boolean]>
}

export const KEEP_PAYOUTS = 64

const pad = (n: number): string => String(n).padStart(12, '0')

export const EconKeys = {
  econParams: 'econParams',
  econ: 'econ',
  payout: (epoch: number): string => `payout:${pad(epoch)}`,
} as const

const uint = (v: unknown, what: string): number => read.uint(v, what)

export const econParamsCodec = {
  encode: (p: EconParams): unknown => [
    amount(p.supplyCap),
    amount(p.batchSize),
    p.firstRatioBps,
    p.decayBps,
    p.minIssuanceBps,
    p.yearMs,
    p.minWorkBps,
  ],
  decode: (v: unknown): EconParams => {
    const f = read.array(v, 7, 'econParams')
    return {
      supplyCap: read.amount(f[0], 'supplyCap'),
      batchSize: read.amount(f[1], 'batchSize'),
      firstRatioBps: uint(f[2], 'firstRatioBps'),
      decayBps: uint(f[3], 'decayBps'),
      minIssuanceBps: uint(f[4], 'minIssuanceBps'),
      yearMs: uint(f[5], 'yearMs'),
      minWorkBps: uint(f[6], 'minWorkBps'),
    }
  },
}

export const econStateCodec = {
  encode: (e: EconState): unknown => [e.genesisTime, e.lastPayout],
  decode: (v: unknown): EconState => {
    const [g, l] = read.array(v, 2, 'econ')
    return { genesisTime: uint(g, 'genesisTime'), lastPayout: uint(l, 'lastPayout') }
  },
}

export const payoutCodec = {
  encode: (p: Payout): unknown => [
    p.epoch,
    p.time,
    p.durationMs,
    amount(p.mintedBefore),
    p.batch,
    p.ratioBps,
    amount(p.eligibleFees),
    amount(p.feeSubsidy),
    amount(p.minimum),
    amount(p.minted),
    p.totalWeight,
    p.hosts.map(([peer, weight, fees, subsidy, eligible]) => [
      peer,
      weight,
      amount(fees),
      amount(subsidy),
      eligible,
    ]),
  ],
  decode: (v: unknown): Payout => {
    const f = read.array(v, 12, 'payout')
    return {
      epoch: uint(f[0], 'epoch'),
      time: uint(f[1], 'time'),
      durationMs: uint(f[2], 'durationMs'),
      mintedBefore: read.amount(f[3], 'mintedBefore'),
      batch: uint(f[4], 'batch'),
      ratioBps: uint(f[5], 'ratioBps'),
      eligibleFees: read.amount(f[6], 'eligibleFees'),
      feeSubsidy: read.amount(f[7], 'feeSubsidy'),
      minimum: read.amount(f[8], 'minimum'),
      minted: read.amount(f[9], 'minted'),
      totalWeight: uint(f[10], 'totalWeight'),
      hosts: read.list(f[11], 100_000, 'hosts').map((h) => {
        const [peer, weight, fees, subsidy, eligible] = read.array(h, 5, 'host')
        return [
          read.string(peer, 64, 'peer'),
          uint(weight, 'weight'),
          read.amount(fees, 'fees'),
          read.amount(subsidy, 'subsidy'),
          read.bool(eligible, 'eligible'),
        ] as [string, number, bigint, bigint, boolean]
      }),
    }
  },
}
