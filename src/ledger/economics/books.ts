import type { State } from '../state/state.js'
import { Keys, type Account, type Supply, type UnbondingQueue } from '../state/records.js'
import { getSupply } from '../state/access.js'
import type { Genesis } from '../genesis.js'
import { TaskKeys, type TaskRecord } from '../task/records.js'
import { VerifyKeys, type CheckedTask, type HeldRewards } from '../verify/records.js'
import { ModelKeys, type ModelProposal } from '../models/records.js'

// The books (issue 12, item 7; docs/economics-books.md): every coin that exists is in exactly one
// place in state, and the supply record counts them:
//   Σ holdings of every store below == supply.total == genesis supply + minted − burned.

/**
 * A place in state that holds coins: the entries of one kind of key, and what one entry holds.
 * A module that keeps coins outside account balances registers one here (in VALUE_STORES).
 */
export interface ValueStore {
  /** Named when the books do not balance, e.g. "escrows of open tasks". */
  name: string
  /**
   * Which entries: the key up to and including its first ':' (`task:`), or the whole key of a
   * single entry (`held`): as `keyKind` gives it, and as the state codecs are chosen.
   */
  kind: string
  /** Base units one entry holds (0n when it holds none). */
  amount(value: unknown, key: string): bigint
}

/** The kind of a state key: up to and including its first ':', or the whole key. */
export function keyKind(key: string): string {
  const colon = key.indexOf(':')
  return colon === -1 ? key : key.slice(0, colon + 1)
}

/**
 * Every store of value. Each coin is in exactly one of them at any time; moving coins between
 * them changes no total, and only minting and burning (through the supply record) change
 * `supply.total`. To add one: an entry here, with the kind of its keys and the amount one entry
 * holds.
 */
export const VALUE_STORES: readonly ValueStore[] = [
  { name: 'balances', kind: keyKind(Keys.account('')), amount: (a) => (a as Account).balance },
  { name: 'stakes', kind: keyKind(Keys.account('')), amount: (a) => (a as Account).stake },
  {
    name: 'unbonding stake',
    kind: keyKind(Keys.unbonding(0)),
    amount: (q) => (q as UnbondingQueue).reduce((sum, [, a]) => sum + a, 0n),
  },
  {
    name: 'escrows of open tasks',
    kind: keyKind(TaskKeys.task('')),
    amount: (t) => (t as TaskRecord).maxCost,
  },
  {
    name: 'held rewards',
    kind: keyKind(TaskKeys.held),
    amount: (h) => (h as HeldRewards).reduce((sum, [, , a]) => sum + a, 0n),
  },
  {
    // A report's deposit waits in its task's record until the dispute is decided or dropped.
    name: 'report deposits',
    kind: keyKind(VerifyKeys.checked('')),
    amount: (t) => {
      const c = t as CheckedTask
      return c.status === 'open' || c.status === 'disputed' ? c.reportDeposit : 0n
    },
  },
  {
    // A fee whose audit closed while its task was disputed waits in the task's record.
    name: 'parked fees',
    kind: keyKind(VerifyKeys.checked('')),
    amount: (t) => ((t as CheckedTask).parked ? (t as CheckedTask).fee : 0n),
  },
  {
    // A model proposal's deposit waits in it until the vote decides it or its window ends.
    name: 'model proposal deposits',
    kind: keyKind(ModelKeys.proposal('')),
    amount: (p) => (p as ModelProposal).deposit,
  },
]

/** Both sides of the books of one state. */
export interface Books {
  /** The supply record: `total` is what should exist now; `minted` and `burned` since genesis. */
  supply: Supply
  /** Base units in each store, in the order of the stores given (VALUE_STORES by default). */
  stores: Array<{ name: string; amount: bigint }>
  /** Every coin held: the sum of the stores. */
  holdings: bigint
  /** Keys of entries that hold a negative amount (the first 8): never valid. */
  negative: string[]
}

/**
 * Count every store of value in one pass over the state's entries (O(entries), no allocation per
 * entry that holds nothing): cheap enough to run after every block of a test, and once at start-up.
 */
export function books(state: State, stores: readonly ValueStore[] = VALUE_STORES): Books {
  const byKind = new Map<string, number[]>()
  stores.forEach((s, i) => byKind.set(s.kind, [...(byKind.get(s.kind) ?? []), i]))
  const sums = stores.map(() => 0n)
  const negative: string[] = []
  for (const [key, value] of state.decoded()) {
    const which = byKind.get(keyKind(key))
    if (which === undefined) continue
    for (const i of which) {
      const a = stores[i]!.amount(value, key)
      if (a < 0n && negative.length < 8) negative.push(key)
      sums[i]! += a
    }
  }
  return {
    supply: getSupply(state),
    stores: stores.map((s, i) => ({ name: s.name, amount: sums[i]! })),
    holdings: sums.reduce((x, y) => x + y, 0n),
    negative,
  }
}

/** Coins in existence at genesis: every account's balance and stake. */
export function genesisSupply(g: Pick<Genesis, 'accounts'>): bigint {
  return g.accounts.reduce((sum, a) => sum + a.balance + a.stake, 0n)
}

/**
 * Why the books of `state` do not balance, as one sentence naming the difference, or undefined.
 * Checks Σ holdings == supply.total and, given the genesis supply, supply.total == genesis +
 * minted − burned (without it the second is not checkable: state does not keep the genesis
 * supply).
 */
export function checkBooks(
  state: State,
  genesis?: bigint,
  stores: readonly ValueStore[] = VALUE_STORES,
): string | undefined {
  return describeBooks(books(state, stores), genesis)
}

/** The sentence `checkBooks` gives for books already counted. */
export function describeBooks(b: Books, genesis?: bigint): string | undefined {
  const { total, minted, burned } = b.supply
  const wrong: string[] = []
  if (b.holdings !== total) {
    const diff = b.holdings - total
    const parts = b.stores.map((s) => `${s.name} ${s.amount}`).join(', ')
    wrong.push(
      `holdings are ${abs(diff)} base units ${diff > 0n ? 'more' : 'less'} than supply.total ${total}: ` +
        `${b.holdings} = ${parts}`,
    )
  }
  if (genesis !== undefined && total !== genesis + minted - burned) {
    const diff = total - (genesis + minted - burned)
    wrong.push(
      `supply.total ${total} is ${abs(diff)} base units ${diff > 0n ? 'more' : 'less'} than ` +
        `genesis ${genesis} + minted ${minted} − burned ${burned}`,
    )
  }
  if (b.negative.length > 0) wrong.push(`negative holdings in ${b.negative.join(', ')}`)
  return wrong.length === 0 ? undefined : `the books do not balance: ${wrong.join('; ')}`
}

const abs = (x: bigint): bigint => (x < 0n ? -x : x)
