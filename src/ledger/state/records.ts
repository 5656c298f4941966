import { encode, decode, read, amount } from '../codec.js'
import { CodecError } from '../errors.js'
import { epochCodec, raceParamsCodec } from '../epoch/records.js'
import { econParamsCodec, econStateCodec, payoutCodec } from '../economics/records.js'
import { inferenceParamsCodec, taskCodec, TaskKeys } from '../task/records.js'
import {
  ModelKeys,
  governanceParamsCodec,
  pendingModelsCodec,
  proposalCodec,
  recentModelsCodec,
} from '../models/records.js'
import { PriceKeys, priceVoteCodec } from '../price/records.js'
import {
  VerifyKeys,
  verifyParamsCodec,
  standingCodec,
  checkedTaskCodec,
  auditCodec,
  auditPageCodec,
  heldCodec,
} from '../verify/records.js'

/** An account: SPEC 3.1. Amounts are integer base units. */
export interface Account {
  balance: bigint
  /** Transactions applied from this account; the next one must carry this nonce. */
  nonce: number
  /** Bonded stake (slashable). */
  stake: bigint
}

export interface ValidatorEntry {
  id: string
  /** Voting power; 0 for a validator that is jailed. */
  power: number
  /** Height until which the validator is jailed (0: never jailed). */
  jailedUntil: number
}

/** A host's announcement: SPEC 2 (HostAnnounce). Reputation and jailing arrive with verification. */
export interface Host {
  models: string[]
  priceVote: bigint
  fingerprint: string
  addrs: string[]
  /** Height of the first announcement. */
  since: number
}

/** Stake released to balances at one height: peer id → amount. */
export type UnbondingQueue = Array<[string, bigint]>

/** Coins in existence: SPEC 7. `total` = genesis + minted − burned, and equals the sum of all holdings. */
export interface Supply {
  total: bigint
  minted: bigint
  burned: bigint
}

/** Protocol constants from genesis (SPEC 3.1); governance may change them later. */
export interface Params {
  /** Smallest fee a transaction may pay, base units. */
  minTxFee: bigint
  maxTxBytes: number
  maxBlockTxs: number
  maxBlockBytes: number
  /** Blocks per epoch. */
  epochBlocks: number
  /** Blocks an unstaked amount waits before it returns to the balance. */
  unbondingBlocks: number
  /** Share of stake slashed for double-signing, in basis points. */
  slashBps: number
  /** Blocks a double-signing validator stays jailed. */
  jailBlocks: number
  /** Furthest a block's time may run ahead of the validator's clock, ms. */
  maxClockDriftMs: number
}

/** Every kind of state entry, by key prefix. */
export const Keys = {
  account: (id: string): string => `acct:${id}`,
  host: (id: string): string => `host:${id}`,
  unbonding: (height: number): string => `unbond:${String(height).padStart(12, '0')}`,
  evidence: (hashHex: string): string => `evid:${hashHex}`,
  validators: 'validators',
  /** The set that voted on the last committed block: it signs the commit carried in the next block. */
  prevValidators: 'prevValidators',
  supply: 'supply',
  params: 'params',
  raceParams: 'raceParams',
  epoch: 'epoch',
  ...TaskKeys,
  ...VerifyKeys,
  ...ModelKeys,
  ...PriceKeys,
} as const

const MAX_ENTRY_BYTES = 1 << 20

interface Codec<T> {
  encode(v: T): unknown
  decode(v: unknown): T
}

const account: Codec<Account> = {
  encode: (a) => [amount(a.balance), a.nonce, amount(a.stake)],
  decode: (v) => {
    const [b, n, s] = read.array(v, 3, 'account')
    return {
      balance: read.amount(b, 'balance'),
      nonce: read.uint(n, 'nonce'),
      stake: read.amount(s, 'stake'),
    }
  },
}

const validators: Codec<ValidatorEntry[]> = {
  encode: (vs) => vs.map((v) => [v.id, v.power, v.jailedUntil]),
  decode: (v) =>
    read.list(v, 10_000, 'validators').map((e) => {
      const [id, power, jailed] = read.array(e, 3, 'validator')
      return {
        id: read.string(id, 64, 'id'),
        power: read.uint(power, 'power'),
        jailedUntil: read.uint(jailed, 'jailed'),
      }
    }),
}

const host: Codec<Host> = {
  encode: (h) => [h.models, amount(h.priceVote), h.fingerprint, h.addrs, h.since],
  decode: (v) => {
    const [m, p, f, a, s] = read.array(v, 5, 'host')
    return {
      models: read.list(m, 64, 'models').map((x) => read.string(x, 128, 'model')),
      priceVote: read.amount(p, 'priceVote'),
      fingerprint: read.string(f, 256, 'fingerprint'),
      addrs: read.list(a, 16, 'addrs').map((x) => read.string(x, 256, 'addr')),
      since: read.uint(s, 'since'),
    }
  },
}

const unbonding: Codec<UnbondingQueue> = {
  encode: (q) => q.map(([id, a]) => [id, amount(a)]),
  decode: (v) =>
    read.list(v, 1_000_000, 'unbonding').map((e) => {
      const [id, a] = read.array(e, 2, 'unbond')
      return [read.string(id, 64, 'id'), read.amount(a, 'amount')] as [string, bigint]
    }),
}

const supply: Codec<Supply> = {
  encode: (s) => [amount(s.total), amount(s.minted), amount(s.burned)],
  decode: (v) => {
    const [t, m, b] = read.array(v, 3, 'supply')
    return {
      total: read.amount(t, 'total'),
      minted: read.amount(m, 'minted'),
      burned: read.amount(b, 'burned'),
    }
  },
}

const params: Codec<Params> = {
  encode: (p) => [
    amount(p.minTxFee),
    p.maxTxBytes,
    p.maxBlockTxs,
    p.maxBlockBytes,
    p.epochBlocks,
    p.unbondingBlocks,
    p.slashBps,
    p.jailBlocks,
    p.maxClockDriftMs,
  ],
  decode: (v) => {
    const f = read.array(v, 9, 'params')
    const u = (i: number, what: string): number => read.uint(f[i], what)
    return {
      minTxFee: read.amount(f[0], 'minTxFee'),
      maxTxBytes: u(1, 'maxTxBytes'),
      maxBlockTxs: u(2, 'maxBlockTxs'),
      maxBlockBytes: u(3, 'maxBlockBytes'),
      epochBlocks: u(4, 'epochBlocks'),
      unbondingBlocks: u(5, 'unbondingBlocks'),
      slashBps: u(6, 'slashBps'),
      jailBlocks: u(7, 'jailBlocks'),
      maxClockDriftMs: u(8, 'maxClockDriftMs'),
    }
  },
}

const evidence: Codec<number> = { encode: (h) => h, decode: (v) => read.uint(v, 'evidence height') }

const CODECS = new Map<string, Codec<unknown>>([
  ['acct:', account as Codec<unknown>],
  ['host:', host as Codec<unknown>],
  ['unbond:', unbonding as Codec<unknown>],
  ['evid:', evidence as Codec<unknown>],
  ['validators', validators as Codec<unknown>],
  ['prevValidators', validators as Codec<unknown>],
  ['supply', supply as Codec<unknown>],
  ['params', params as Codec<unknown>],
  ['raceParams', raceParamsCodec as Codec<unknown>],
  ['epoch', epochCodec as Codec<unknown>],
  ['inference', inferenceParamsCodec as Codec<unknown>],
  ['task:', taskCodec as Codec<unknown>],
  ['held', heldCodec as Codec<unknown>],
  ['verifyParams', verifyParamsCodec as Codec<unknown>],
  ['standing:', standingCodec as Codec<unknown>],
  ['checked:', checkedTaskCodec as Codec<unknown>],
  ['audit:', auditCodec as Codec<unknown>],
  ['auditpage:', auditPageCodec as Codec<unknown>],
  ['governance', governanceParamsCodec as Codec<unknown>],
  ['modelprops', pendingModelsCodec as Codec<unknown>],
  ['modelprop:', proposalCodec as Codec<unknown>],
  ['modeldone', recentModelsCodec as Codec<unknown>],
  ['pricevote:', priceVoteCodec as Codec<unknown>],
  ['econParams', econParamsCodec as Codec<unknown>],
  ['econ', econStateCodec as Codec<unknown>],
  ['payout:', payoutCodec as Codec<unknown>],
])

function codecFor(key: string): Codec<unknown> {
  const colon = key.indexOf(':')
  const c = CODECS.get(colon === -1 ? key : key.slice(0, colon + 1))
  if (c === undefined)
    throw new CodecError('BAD_SHAPE', `unknown state key ${key.slice(0, 80)}`, { what: 'state' })
  return c
}

/** Canonical bytes of a state entry, as stored on disk and hashed into the state root. */
export function encodeEntry(key: string, value: unknown): Uint8Array {
  return encode(codecFor(key).encode(value))
}

export function decodeEntry(key: string, bytes: Uint8Array): unknown {
  return codecFor(key).decode(decode(bytes, MAX_ENTRY_BYTES, `state ${key.slice(0, 80)}`))
}
