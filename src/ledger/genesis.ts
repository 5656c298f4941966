import { encode, amount } from './codec.js'
import { taggedHash, publicKeyOfPeerId } from './crypto.js'
import { State, Overlay } from './state/state.js'
import { Keys, type Params } from './state/records.js'
import { putAccount, putSupply, putValidatorEntries } from './state/access.js'
import { raceParamsCodec, freshEpoch, type RaceParams } from './epoch/records.js'
import { genesisRaceSeed } from './epoch/seed.js'
import { inferenceParamsCodec, TaskKeys, type InferenceParams } from './task/records.js'
import { verifyParamsCodec, VerifyKeys, type VerifyParams } from './verify/records.js'
import { epochWeights, openAudit } from './verify/audit.js'
import { econParamsCodec, EconKeys, type EconParams } from './economics/records.js'
import { getEpoch, putEpoch } from './epoch/access.js'
import { governanceParamsCodec, ModelKeys, type GovernanceParams } from './models/records.js'

/** SPEC 3 genesis: the chain id, first accounts and validators, and every protocol constant. */
export interface Genesis {
  chainId: string
  /** ms since the Unix epoch; block 1 must be later. */
  time: number
  params: Params
  accounts: Array<{ id: string; balance: bigint; stake: bigint }>
  validators: Array<{ id: string; power: number }>
  /** Race parameters; without them the chain runs no Races and its validators stay as listed. */
  race?: RaceParams
  /** Unit price and approved models; without them the chain takes no inference tasks. */
  inference?: InferenceParams
  /** Verification constants; without them no task is checked and rewards are paid each epoch's end. */
  verification?: VerifyParams
  /** Models added by proposal and weighted vote (needs race and inference); without it the list stays. */
  governance?: GovernanceParams
  /** The subsidy schedule (needs verification: rewards are paid as audits close); without it nothing is minted. */
  economics?: EconParams
}

/** Hash that block 1 names as its parent. */
export function genesisHash(g: Genesis): Uint8Array {
  return taggedHash(
    'cordex/genesis',
    encode([
      g.chainId,
      g.time,
      Object.entries(g.params).map(([k, v]) => [k, typeof v === 'bigint' ? amount(v) : v]),
      g.accounts.map((a) => [a.id, amount(a.balance), amount(a.stake)]),
      g.validators.map((v) => [v.id, v.power]),
      g.race === undefined ? null : raceParamsCodec.encode(g.race),
      g.inference === undefined ? null : inferenceParamsCodec.encode(g.inference),
      ...(g.verification === undefined ? [] : [verifyParamsCodec.encode(g.verification)]),
      ...(g.governance === undefined ? [] : [['governance', governanceParamsCodec.encode(g.governance)]]),
      ...(g.economics === undefined ? [] : [['economics', econParamsCodec.encode(g.economics)]]),
    ]),
  )
}

/** Why a genesis is unusable, or undefined. */
export function checkGenesis(g: Genesis): string | undefined {
  if (g.validators.length === 0) return 'genesis.validators: at least one validator is needed'
  const ids = new Set<string>()
  for (const [i, v] of g.validators.entries()) {
    if (publicKeyOfPeerId(v.id) === undefined) return `genesis.validators.${i}.id: not an Ed25519 peer id`
    if (ids.has(v.id)) return `genesis.validators.${i}.id: listed twice`
    if (!Number.isSafeInteger(v.power) || v.power <= 0)
      return `genesis.validators.${i}.power: must be positive`
    ids.add(v.id)
  }
  const accts = new Set<string>()
  for (const [i, a] of g.accounts.entries()) {
    if (publicKeyOfPeerId(a.id) === undefined) return `genesis.accounts.${i}.id: not an Ed25519 peer id`
    if (accts.has(a.id)) return `genesis.accounts.${i}.id: listed twice`
    accts.add(a.id)
  }
  return undefined
}

/** The state before block 1. */
export function genesisState(g: Genesis): State {
  const state = new State()
  const o = new Overlay(state)
  o.set(Keys.params, g.params)
  let total = 0n
  for (const a of g.accounts) {
    putAccount(o, a.id, { balance: a.balance, nonce: 0, stake: a.stake })
    total += a.balance + a.stake
  }
  putSupply(o, { total, minted: 0n, burned: 0n })
  putValidatorEntries(
    o,
    g.validators.map((v) => ({ id: v.id, power: v.power, jailedUntil: 0 })),
  )
  if (g.race !== undefined) {
    o.set(Keys.raceParams, g.race)
    putEpoch(
      o,
      freshEpoch(
        0,
        1,
        genesisRaceSeed(g.chainId),
        g.validators.map((v) => [v.id, v.power]),
      ),
    )
  }
  if (g.inference !== undefined) o.set(TaskKeys.inference, g.inference)
  if (g.verification !== undefined) {
    if (g.race === undefined)
      throw new Error('genesis: verification needs Races (its audits close at epoch ends)')
    o.set(VerifyKeys.verifyParams, g.verification)
    openAudit(o, 0, epochWeights(o, getEpoch(o)))
  }
  if (g.economics !== undefined) {
    if (g.verification === undefined)
      throw new Error('genesis: economics needs verification (rewards are paid as audits close)')
    o.set(EconKeys.econParams, g.economics)
    o.set(EconKeys.econ, { genesisTime: g.time, lastPayout: g.time })
  }
  if (g.governance !== undefined) {
    if (g.race === undefined || g.inference === undefined)
      throw new Error(
        'genesis: governance needs race (its windows are epochs) and inference (the model list)',
      )
    o.set(ModelKeys.governance, g.governance)
  }
  state.commit(o)
  return state
}
