import { test } from 'node:test'
import assert from 'node:assert/strict'
import { baseRegistry, signTx, type SignedTx } from '../../../src/ledger/tx/index.js'
import { applyBody, applyTx } from '../../../src/ledger/executor.js'
import { genesisState } from '../../../src/ledger/genesis.js'
import { Overlay, type State } from '../../../src/ledger/state/state.js'
import { getAccount } from '../../../src/ledger/state/access.js'
import { TxRejectedError } from '../../../src/ledger/errors.js'
import { PendingOverlay } from '../../../src/node/chain/pendingOverlay.js'
import { testGenesis, testSigner } from '../../helpers/chainSim.js'

const registry = baseRegistry()
const [alice, bob, carol] = [testSigner(0), testSigner(1), testSigner(2)]
const genesis = testGenesis([alice, bob])
const ctx = { chainId: genesis.chainId, registry }
const block = { height: 1, time: genesis.time + 1000, proposer: bob.peerId }
const START = 1_000_000n // testGenesis's balance
const head = (n: number): Uint8Array => new Uint8Array(32).fill(n)

const transfer = (nonce: number, amount: bigint): SignedTx =>
  signTx(registry, genesis.chainId, alice, {
    type: 'Transfer',
    nonce,
    fee: 1n,
    body: { to: carol.peerId, amount },
  })

/** An apply that runs the rules and counts its calls. */
function counted(): { apply: (o: Overlay, tx: SignedTx) => void; calls: () => number } {
  let n = 0
  return {
    apply: (o, tx) => {
      n++
      applyBody(o, tx, ctx, block)
    },
    calls: () => n,
  }
}

const balance = (s: State | Overlay, who = alice.peerId): bigint => getAccount(s, who).balance

test('each pending transaction is applied once across sends while the head stays', () => {
  const state = genesisState(genesis)
  const pending = new PendingOverlay()
  const { apply, calls } = counted()
  const lane: SignedTx[] = []
  for (let i = 0; i < 20; i++) {
    const o = pending.on(state, head(1), lane, apply)
    // What the 20 sends saw: every transfer before theirs, by the rule (amounts 1..i).
    assert.equal(balance(o), START - BigInt((i * (i + 1)) / 2))
    lane.push(transfer(i, BigInt(i + 1)))
  }
  assert.equal(calls(), 19, 'one apply per pending transaction, not one per transaction and send')
  assert.equal(balance(state), START, 'the committed state is untouched')
})

test('a pending transaction that fails on top of the others is skipped, as a block would', () => {
  const state = genesisState(genesis)
  const pending = new PendingOverlay()
  const lane = [transfer(0, 600_000n), transfer(1, 600_000n), transfer(2, 300_000n)]
  const o = pending.on(state, head(1), lane, counted().apply)
  assert.equal(balance(o), START - 900_000n)
  assert.equal(balance(o, carol.peerId), 900_000n + balance(state, carol.peerId))
  // The next own transaction is checked against that: 200,000 more does not fit.
  assert.throws(
    () => applyBody(o.child(), transfer(3, 200_000n), ctx, block),
    (err: unknown) => err instanceof TxRejectedError && err.code === 'INSUFFICIENT_FUNDS',
  )
})

test('a new head, or a lane that is not the one applied, is applied again from the state', () => {
  const state = genesisState(genesis)
  const pending = new PendingOverlay()
  const { apply, calls } = counted()
  const lane = [transfer(0, 10n), transfer(1, 20n), transfer(2, 30n)]
  pending.on(state, head(1), lane, apply)
  assert.equal(calls(), 3)

  // A block takes the first transfer: the state moves, the lane shrinks, the head changes.
  const committed = new Overlay(state)
  applyTx(committed, lane[0]!, ctx, block)
  state.commit(committed)
  const after = pending.on(state, head(2), lane.slice(1), apply)
  assert.equal(calls(), 5)
  assert.equal(balance(after), START - 1n - 10n - 20n - 30n, 'the fee of the committed one, and all three')

  // Same head, but the lane's first transaction is another one (replaced): from the state again.
  const other = [transfer(1, 5n), transfer(2, 30n)]
  assert.equal(balance(pending.on(state, head(2), other, apply)), START - 1n - 10n - 5n - 30n)
  assert.equal(calls(), 7)
})

test('an error that is not a refusal reaches the caller, and nothing half-applied is kept', () => {
  const state = genesisState(genesis)
  const pending = new PendingOverlay()
  const lane = [transfer(0, 10n), transfer(1, 20n)]
  const broken = (o: Overlay, tx: SignedTx): void => {
    applyBody(o, tx, ctx, block)
    if (tx.nonce === 1) throw new Error('a bug in a rule')
  }
  assert.throws(() => pending.on(state, head(1), lane, broken), /a bug in a rule/)
  const { apply, calls } = counted()
  assert.equal(balance(pending.on(state, head(1), lane, apply)), START - 30n)
  assert.equal(calls(), 2, 'applied again from the state')
})
