import { test } from 'node:test'
import assert from 'node:assert/strict'
import { genesisState, type Genesis } from '../../../src/ledger/genesis.js'
import { Overlay, State } from '../../../src/ledger/state/state.js'
import { getAccount, getSupply, putAccount } from '../../../src/ledger/state/access.js'
import { addHeld, getStanding, putStanding, takeEpochHeld } from '../../../src/ledger/verify/access.js'
import { getPayout } from '../../../src/ledger/economics/access.js'
import { payEpoch } from '../../../src/ledger/economics/rewards.js'
import type { EconParams } from '../../../src/ledger/economics/records.js'
import type { RaceParams } from '../../../src/ledger/epoch/records.js'
import { TEST_PARAMS, TEST_RACE, testSigner } from '../../helpers/chainSim.js'
import { checkBooks, genesisSupply } from '../../../src/ledger/economics/index.js'

const client = testSigner(5)
const [a, b, c, d] = [1, 2, 3, 4].map(testSigner) as [
  ReturnType<typeof testSigner>,
  ReturnType<typeof testSigner>,
  ReturnType<typeof testSigner>,
  ReturnType<typeof testSigner>,
]
const YEAR = 1_000_000
const econ: EconParams = {
  supplyCap: 10_000_000n,
  batchSize: 1_000_000n,
  firstRatioBps: 9000,
  decayBps: 2000,
  minIssuanceBps: 500,
  yearMs: YEAR,
  minWorkBps: 5000,
}
const race: RaceParams = { ...TEST_RACE, maxSampleFailures: 0 }
const genesis: Genesis = {
  chainId: 'cordex-rewards',
  time: 0,
  params: TEST_PARAMS,
  accounts: [a, b, c, d, client].map((s) => ({
    id: s.peerId,
    balance: s === client ? 4_000_000n : 1_000_000n,
    stake: 0n,
  })),
  validators: [a, b, c, d].map((s) => ({ id: s.peerId, power: 1 })),
  race,
  verification: {
    minCheckRateBps: 2000,
    reputationCap: 4,
    fraudSlashBps: 1000,
    fraudJailEpochs: 2,
    dutyToleranceBps: 1000,
    reportDeposit: 5_000n,
    reportRewardBps: 2000,
    disputeEpochs: 2,
  },
  economics: econ,
}
// Weights 2 : 1 : 1 : 1; d was convicted in epoch 3.
const weights: Array<[string, number]> = [
  [a.peerId, 2],
  [b.peerId, 1],
  [c.peerId, 1],
  [d.peerId, 1],
]

/** The state under each test's overlay, to check the books of. */
const bases = new WeakMap<Overlay, State>()
function chain(): Overlay {
  const base = genesisState(genesis)
  const o = new Overlay(base)
  bases.set(o, base)
  putStanding(o, d.peerId, { ...getStanding(o, d.peerId), frauds: [3] })
  return o
}
const balance = (o: Overlay, s: { peerId: string }): bigint => getAccount(o, s.peerId).balance

/**
 * An epoch's payout as the audit's close makes it: the fees are held first (a client pays them, as
 * receipts would), then paid; the books must balance after it.
 */
function pay(
  o: Overlay,
  epoch: number,
  held: Array<[string, bigint]>,
  w: Array<[string, number]>,
  time: number,
): void {
  for (const [peer, fees] of held) {
    const c = getAccount(o, client.peerId)
    putAccount(o, client.peerId, { ...c, balance: c.balance - fees })
    addHeld(o, peer, epoch, fees)
  }
  payEpoch(o, epoch, takeEpochHeld(o, epoch), w, time)
  const state = bases.get(o)!
  state.commit(o)
  assert.equal(checkBooks(state, genesisSupply(genesis)), undefined)
}

test('each host gets its fees; those that did their share of work split the subsidy in proportion to fees', () => {
  const o = chain()
  const held: Array<[string, bigint]> = [
    [a.peerId, 6000n], // weight share 2/5, fee share 6000/10050: eligible
    [b.peerId, 3000n], // 1/5 against 0.30: eligible
    [c.peerId, 900n], // 1/5 against 0.09 < half of 0.2: not eligible
    [d.peerId, 150n], // convicted in the epoch: not eligible
  ]
  const before = [a, b, c, d].map((s) => balance(o, s))
  const supply = getSupply(o)
  // A tiny epoch (1 ms): the minimum issuance is 0, the fees decide. Batch 1 at 90%: x · 9.
  pay(o, 3, held, weights, 1)
  const eligible = 6000n + 3000n
  const pool = (eligible * 9000n) / 1000n
  const want = [6000n + (pool * 6000n) / eligible, 3000n + (pool * 3000n) / eligible, 900n, 150n]
  assert.deepEqual(
    [a, b, c, d].map((s, i) => balance(o, s) - before[i]!),
    want,
  )
  const minted = pool
  assert.deepEqual(getSupply(o), { ...supply, total: supply.total + minted, minted: supply.minted + minted })
  const p = getPayout(o, 3)!
  assert.deepEqual(
    p.hosts.map(([, , , , ok]) => ok),
    [true, true, false, false],
  )
  assert.equal(p.feeSubsidy, pool)
  assert.equal(p.minted, minted)
})

test('when fees mint less than the minimum issuance, the minimum is spread over the hosts that did work', () => {
  const o = chain()
  const before = [a, b].map((s) => balance(o, s))
  // A tenth of a year into year 0: the minimum is 5% of the cap, scaled: 500,000 · 0.1 = 50,000.
  pay(
    o,
    3,
    [
      [a.peerId, 20n],
      [b.peerId, 10n],
    ],
    weights,
    YEAR / 10,
  )
  const minimum = (econ.supplyCap * 500n) / 10_000n / 10n
  assert.equal(getPayout(o, 3)!.minimum, minimum)
  assert.deepEqual(
    [a, b].map((s, i) => balance(o, s) - before[i]!),
    [20n + (minimum * 20n) / 30n, 10n + (minimum * 10n) / 30n],
  )
  // In year 1 the yearly minimum has halved; this epoch lasted 1.1 years since the last payout.
  const o2 = chain()
  pay(o2, 3, [[a.peerId, 20n]], weights, YEAR + YEAR / 10)
  assert.equal(getPayout(o2, 3)!.minimum, (((econ.supplyCap * 500n) / 10_000n / 2n) * 11n) / 10n)
})

test('nothing is minted past the cap, and nobody is paid a subsidy without fees', () => {
  const o = chain()
  const issued = getSupply(o).total
  const huge = 1_000_000n // fees that would mint 9,000,000: far more than the room
  pay(o, 3, [[a.peerId, huge]], [[a.peerId, 1]], 1)
  const s = getSupply(o)
  assert.equal(s.total, econ.supplyCap, 'issued up to the cap exactly')
  assert.equal(s.minted, econ.supplyCap - issued)
  const o2 = chain()
  pay(o2, 3, [], weights, YEAR / 2)
  assert.equal(getSupply(o2).minted, 0n, 'no work, no minimum issuance to spread')
})
