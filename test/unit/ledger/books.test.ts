import { test } from 'node:test'
import assert from 'node:assert/strict'
import { genesisState } from '../../../src/ledger/genesis.js'
import { Overlay, type State } from '../../../src/ledger/state/state.js'
import {
  getAccount,
  getSupply,
  putAccount,
  putSupply,
  putUnbonding,
} from '../../../src/ledger/state/access.js'
import { addHeld, getHeld } from '../../../src/ledger/verify/index.js'
import {
  VALUE_STORES,
  books,
  checkBooks,
  genesisSupply,
  keyKind,
  type ValueStore,
} from '../../../src/ledger/economics/index.js'
import { TaskKeys } from '../../../src/ledger/task/index.js'
import { testGenesis, testSigner } from '../../helpers/chainSim.js'

const [a, b, c] = [0, 1, 2].map(testSigner) as [
  ReturnType<typeof testSigner>,
  ReturnType<typeof testSigner>,
  ReturnType<typeof testSigner>,
]
const genesis = testGenesis([a, b, c])
const GENESIS = genesisSupply(genesis)

function change(state: State, fn: (o: Overlay) => void): State {
  const o = new Overlay(state)
  fn(o)
  state.commit(o)
  return state
}

function credit(o: Overlay, id: string, amount: bigint): void {
  const acct = getAccount(o, id)
  putAccount(o, id, { ...acct, balance: acct.balance + amount })
}

/** A state whose coins sit in several stores: balances, stakes, unbonding stake, held rewards. */
function spread(): State {
  return change(genesisState(genesis), (o) => {
    credit(o, a.peerId, -300n)
    putUnbonding(o, 40, [[a.peerId, 100n]])
    addHeld(o, b.peerId, 0, 200n)
  })
}

test('genesis balances: every coin is in a store, and the supply counts them', () => {
  const state = genesisState(genesis)
  assert.equal(GENESIS, 3n * (1_000_000n + 10_000n))
  assert.equal(checkBooks(state, GENESIS), undefined)
  const bk = books(state)
  assert.equal(bk.holdings, GENESIS)
  assert.deepEqual(
    bk.stores.map((s) => s.name),
    VALUE_STORES.map((s) => s.name),
  )
  assert.equal(bk.stores.find((s) => s.name === 'stakes')!.amount, 30_000n)
})

test('coins moved between stores keep the books; minting and burning through the supply record keep them too', () => {
  const state = spread()
  assert.equal(checkBooks(state, GENESIS), undefined)
  const bk = books(state)
  assert.equal(bk.stores.find((s) => s.name === 'unbonding stake')!.amount, 100n)
  assert.equal(bk.stores.find((s) => s.name === 'held rewards')!.amount, 200n)
  change(state, (o) => {
    const s = getSupply(o)
    credit(o, c.peerId, 1_000n)
    putSupply(o, { ...s, total: s.total + 1_000n, minted: s.minted + 1_000n })
  })
  change(state, (o) => {
    const s = getSupply(o)
    credit(o, c.peerId, -400n)
    putSupply(o, { ...s, total: s.total - 400n, burned: s.burned + 400n })
  })
  assert.equal(checkBooks(state, GENESIS), undefined)
  assert.equal(getSupply(state).total, GENESIS + 600n)
})

test('an account credited without the supply is caught, the difference named', () => {
  const state = change(spread(), (o) => credit(o, c.peerId, 7n))
  const why = checkBooks(state, GENESIS)
  assert.ok(why !== undefined)
  assert.match(why, /holdings are 7 base units more than supply\.total 3030000/)
  assert.match(why, /3030007 = balances 2999707, stakes 30000, unbonding stake 100, /)
  assert.match(why, /held rewards 200/)
  // A burn that forgets to take the coins: the supply says less than is held.
  change(state, (o) => {
    credit(o, c.peerId, -7n)
    const s = getSupply(o)
    putSupply(o, { ...s, total: s.total - 50n, burned: s.burned + 50n })
  })
  assert.match(checkBooks(state, GENESIS)!, /holdings are 50 base units more than supply\.total 3029950/)
})

test('a supply total out of step with genesis + minted − burned is caught', () => {
  const state = change(spread(), (o) => {
    const s = getSupply(o)
    credit(o, c.peerId, 9n)
    putSupply(o, { ...s, total: s.total + 9n }) // minted, but not counted as minted
  })
  assert.equal(checkBooks(state), undefined, 'without the genesis supply only the holdings are checked')
  assert.equal(
    checkBooks(state, GENESIS),
    'the books do not balance: supply.total 3030009 is 9 base units more than genesis 3030000 + minted 0 − burned 0',
  )
})

test('a store of value must be registered: one left out is missing from the books, one added counts', () => {
  const state = spread()
  const withoutHeld = VALUE_STORES.filter((s) => s.name !== 'held rewards')
  assert.match(
    checkBooks(state, GENESIS, withoutHeld)!,
    /holdings are 200 base units less than supply\.total/,
  )
  // A module registers its store: the kind of its keys and what one entry holds.
  const held: ValueStore = {
    name: 'rewards not yet paid',
    kind: keyKind(TaskKeys.held),
    amount: (v) => (v as ReturnType<typeof getHeld>).reduce((sum, [, , x]) => sum + x, 0n),
  }
  assert.equal(checkBooks(state, GENESIS, [...withoutHeld, held]), undefined)
  assert.equal(keyKind('modelprop:x@0123456789abcdef'), 'modelprop:')
  assert.equal(keyKind('held'), 'held')
})

test('a negative holding is named even when the sums agree', () => {
  const state = spread()
  const odd: ValueStore[] = [
    ...VALUE_STORES,
    { name: 'minus', kind: 'held', amount: () => -1n },
    { name: 'plus', kind: 'held', amount: () => 1n },
  ]
  assert.equal(checkBooks(state, GENESIS, odd), 'the books do not balance: negative holdings in held')
})
