import type { Overlay, StateReader } from './state.js'
import {
  Keys,
  type Account,
  type Host,
  type Params,
  type Supply,
  type UnbondingQueue,
  type ValidatorEntry,
} from './records.js'

// Typed reads and writes of state entries. Writes go to an Overlay only.

const EMPTY_ACCOUNT: Account = Object.freeze({ balance: 0n, nonce: 0, stake: 0n })

export function getAccount(s: StateReader, id: string): Account {
  return (s.get(Keys.account(id)) as Account | undefined) ?? EMPTY_ACCOUNT
}

/** Store an account; an empty one (nothing held, no nonce) is removed from state. */
export function putAccount(s: Overlay, id: string, a: Account): void {
  if (a.balance === 0n && a.stake === 0n && a.nonce === 0) s.delete(Keys.account(id))
  else s.set(Keys.account(id), { balance: a.balance, nonce: a.nonce, stake: a.stake })
}

export function getParams(s: StateReader): Params {
  const p = s.get(Keys.params) as Params | undefined
  if (p === undefined) throw new Error('state has no params (not initialized from genesis)')
  return p
}

export function getSupply(s: StateReader): Supply {
  return (s.get(Keys.supply) as Supply | undefined) ?? { total: 0n, minted: 0n, burned: 0n }
}

export function putSupply(s: Overlay, v: Supply): void {
  s.set(Keys.supply, v)
}

/** All validators, sorted by id, jailed ones included (with power counted as 0 while jailed). */
export function getValidatorEntries(s: StateReader): ValidatorEntry[] {
  return (s.get(Keys.validators) as ValidatorEntry[] | undefined) ?? []
}

export function putValidatorEntries(s: Overlay, vs: ValidatorEntry[]): void {
  s.set(
    Keys.validators,
    [...vs].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
  )
}

/** The validator entries that were in force for the last committed block. */
export function getPrevValidatorEntries(s: StateReader): ValidatorEntry[] {
  return (s.get(Keys.prevValidators) as ValidatorEntry[] | undefined) ?? getValidatorEntries(s)
}

export function getHost(s: StateReader, id: string): Host | undefined {
  return s.get(Keys.host(id)) as Host | undefined
}

export function putHost(s: Overlay, id: string, h: Host): void {
  s.set(Keys.host(id), h)
}

export function getUnbonding(s: StateReader, height: number): UnbondingQueue {
  return (s.get(Keys.unbonding(height)) as UnbondingQueue | undefined) ?? []
}

export function putUnbonding(s: Overlay, height: number, q: UnbondingQueue): void {
  if (q.length === 0) s.delete(Keys.unbonding(height))
  else s.set(Keys.unbonding(height), q)
}

export function evidenceSeen(s: StateReader, hashHex: string): boolean {
  return s.get(Keys.evidence(hashHex)) !== undefined
}

export function markEvidence(s: Overlay, hashHex: string, height: number): void {
  s.set(Keys.evidence(hashHex), height)
}
