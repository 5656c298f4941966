import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ChainSim } from '../helpers/chainSim.js'
import { getAccount, getValidatorEntries } from '../../src/ledger/state/access.js'
import { baseRegistry, signTx } from '../../src/ledger/tx/index.js'
import { testSigner } from '../helpers/chainSim.js'

test('four equal validators finalize 200 blocks, all the same', () => {
  const sim = new ChainSim(4)
  sim.start()
  assert.ok(
    sim.runUntil(() => sim.minHeight() >= 200, 600_000),
    `reached ${sim.minHeight()}`,
  )
  // Every node committed the same block (hence the same state root) at every height.
  assert.deepEqual(sim.violations, [])
  for (let h = 1; h <= 200; h++) {
    assert.ok(
      sim.stored.every((s) => s.has(h)),
      `every node stored block ${h}`,
    )
  }
})

test('a quiet chain sends each vote about once: deciders do not resend their commits to each other', () => {
  // Empty blocks every second and a resend every 300 ms: a resend loop among the nodes that decided
  // a height would add four precommits per node per resend for as long as the chain runs.
  const sim = new ChainSim(4, 2, undefined, 1000)
  sim.start()
  assert.ok(sim.runUntil(() => sim.minHeight() >= 30, 600_000))
  assert.deepEqual(sim.violations, [])
  // Each of the 4 nodes prevotes and precommits once per height; a few resends on top are fine.
  const perHeight = [...Array(25).keys()].map((i) => sim.votesSent.get(i + 2) ?? 0)
  assert.ok(
    perHeight.every((n) => n <= 12),
    `votes sent per height: ${perHeight.join(' ')}`,
  )
})

test('with one of four silent the others still finalize', () => {
  const sim = new ChainSim(4)
  sim.silent.add(3)
  sim.start()
  assert.ok(
    sim.runUntil(() => sim.minHeight([0, 1, 2]) >= 30, 600_000),
    `reached ${sim.minHeight([0, 1, 2])}`,
  )
  assert.equal(sim.replicas[3]!.height, 0)
  assert.deepEqual(sim.violations, [])
})

test('with two of four silent nothing finalizes, and finality resumes when one returns', () => {
  const sim = new ChainSim(4)
  sim.start()
  assert.ok(sim.runUntil(() => sim.minHeight() >= 5, 60_000))
  sim.silent.add(2)
  sim.silent.add(3)
  const stuckAt = Math.max(...sim.replicas.map((r) => r.height))
  sim.runUntil(() => false, 60_000)
  assert.ok(
    sim.replicas.every((r) => r.height <= stuckAt + 1),
    'no more than the block already in flight commits',
  )
  const frozen = Math.max(...sim.replicas.map((r) => r.height))
  sim.runUntil(() => false, 30_000)
  assert.equal(Math.max(...sim.replicas.map((r) => r.height)), frozen, 'nothing finalizes without a quorum')
  assert.deepEqual(sim.violations, [])

  sim.silent.delete(3)
  assert.ok(
    sim.runUntil(() => sim.minHeight([0, 1, 3]) >= frozen + 10, 600_000),
    'finality resumes',
  )
  assert.deepEqual(sim.violations, [])
})

test('an equivocating validator is caught: its evidence lands, it is slashed and jailed', () => {
  const sim = new ChainSim(4)
  const cheat = sim.signers[3]!.peerId
  sim.equivocators.add(3)
  sim.start()
  const punished = (): boolean =>
    getValidatorEntries(sim.replicas[0]!.state).some((v) => v.id === cheat && v.jailedUntil > 0)
  assert.ok(sim.runUntil(punished, 120_000), 'the equivocator is jailed')
  const stake = getAccount(sim.replicas[0]!.state, cheat).stake
  assert.equal(stake, 9_000n, '10% of 10,000 slashed')
  // The chain goes on without it, and every node agrees.
  const h = sim.minHeight([0, 1, 2])
  assert.ok(sim.runUntil(() => sim.minHeight([0, 1, 2]) >= h + 10, 120_000))
  assert.deepEqual(sim.violations, [])
  const jailedAt = sim.replicas[0]!.validators().has(cheat)
  assert.equal(jailedAt, false, 'jailed: not in the validator set')
})

test('a single validator finalizes each block at once', () => {
  const sim = new ChainSim(1)
  sim.start()
  assert.ok(sim.runUntil(() => sim.minHeight() >= 20, 1_000))
  assert.deepEqual(sim.violations, [])
})

test('an idle network waits the empty-block interval; a transaction starts the next block at once', () => {
  const sim = new ChainSim(4, 2, undefined, 1000)
  sim.start()
  assert.ok(sim.runUntil(() => sim.minHeight() >= 3, 30_000))
  // Empty blocks are at least 1000 ms apart (block times are the proposer's clock).
  const times = [1, 2, 3].map((h) => sim.stored[0]!.get(h)!.block.header.time)
  assert.ok(times[1]! - times[0]! >= 1000 && times[2]! - times[1]! >= 1000, `block times ${times.join(', ')}`)
  // Right after block 3, a transfer is submitted: block 4 does not wait the interval.
  const h = sim.replicas[0]!.height
  const t0 = sim.now
  sim.submit(
    0,
    signTx(baseRegistry(), 'cordex-sim', testSigner(0), {
      type: 'Transfer',
      nonce: 0,
      fee: 1n,
      body: { to: testSigner(9).peerId, amount: 5n },
    }),
  )
  assert.ok(sim.runUntil(() => sim.minHeight() > h, 5_000))
  assert.ok(sim.now - t0 < 1000, `included after ${sim.now - t0} ms of simulated time`)
  assert.equal(sim.stored[0]!.get(h + 1)!.block.txs.length, 1)
  assert.deepEqual(sim.violations, [])
})
