import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { ALL_LIES, ByzantineSim, type ByzantineSimOptions, type Lie } from '../helpers/byzantine.js'
import { getAccount, getValidatorEntries } from '../../src/ledger/state/access.js'

/** Seed of every run; set CORDEX_SIM_SEED to explore others (a failure names its seed). */
const SEED = Number(process.env.CORDEX_SIM_SEED ?? 20240611)

/**
 * Five validators: three honest with 4 each, two byzantine with 3 and 2. The byzantine hold 5 of
 * 17, the most below a third (3 × 5 < 17 < 3 × 6), so a quorum (more than 2/3, i.e. 12) needs
 * every honest validator whenever the byzantine ones keep quiet. Five rather than seven keeps
 * 1,000 heights cheap: signature checks, which grow with the square of the validators, are most
 * of a run's cost.
 */
const POWER = [4, 4, 4, 3, 2]
const BYZANTINE = [3, 4]

function sim(lies: readonly Lie[], extra: Partial<ByzantineSimOptions> = {}): ByzantineSim {
  return new ByzantineSim({ seed: SEED, power: POWER, byzantine: BYZANTINE, lies, ...extra })
}

/** No fork, no honest validator accused: checked at every commit by the simulation. */
function assertSafe(s: ByzantineSim): void {
  assert.deepEqual(s.violations, [], `seed ${s.rng.seed}`)
}

/**
 * Blocks 1..h were committed, and every honest commit at each height (checked as it happened)
 * was the same block.
 */
function assertAgreedUpTo(s: ByzantineSim, h: number): void {
  for (let k = 1; k <= h; k++) assert.ok(s.canonical.has(k), `seed ${s.rng.seed}: block ${k} committed`)
  assertSafe(s)
}

function report(t: TestContext, s: ByzantineSim): void {
  t.diagnostic(
    `seed ${s.rng.seed}: heights ${s.heights().join(',')} after ${Math.round(s.now / 1000)} s simulated; ` +
      `told ${JSON.stringify(s.stats.told)}; undecodable ${s.stats.undecodable}, bad signature ` +
      `${s.stats.badSignature} (honest refused ${s.stats.honestRefused}), delivered ${s.stats.delivered}, dropped ${s.stats.dropped}, relayed ` +
      `${s.stats.relayed}, synced ${s.stats.synced}, stall syncs ${s.stats.stallSyncs}, evidence ${s.punished.length}`,
  )
}

test('setup: the byzantine validators hold just under a third of the power', () => {
  const s = sim([])
  const total = s.powerOf(POWER.keys())
  const byz = s.powerOf(BYZANTINE)
  assert.equal(byz, Math.floor((total - 1) / 3))
  assert.ok(3 * byz < total && 3 * (byz + 1) > total)
})

test('every lie at once, under a third of the power, over a lossy network: 1,000 heights, no fork', (t) => {
  const s = sim(ALL_LIES)
  s.start()
  const done = s.runUntil(() => s.minHeight() >= 1000, 20_000_000)
  report(t, s)
  assertSafe(s)
  assert.ok(done, `seed ${SEED}: honest heights ${s.heights().join(',')}, stalled at ${s.maxHeight()}`)
  assertAgreedUpTo(s, 1000)
  // The run is not vacuous: every lie was told many times, and the network lost and relayed.
  for (const lie of ALL_LIES)
    assert.ok(s.stats.told[lie] > 100, `seed ${SEED}: ${lie} told ${s.stats.told[lie]} times`)
  assert.ok(s.stats.undecodable > 0 && s.stats.badSignature > 0, 'malformed messages reached the checks')
  assert.ok(s.stats.dropped > 0 && s.stats.relayed > 0)
  assert.equal(s.stats.honestRefused, 0, `seed ${SEED}: no honest message is refused by the gossip checks`)
  // Nodes that fell behind came back through sync.
  assert.ok(s.stats.synced > 0, 'some honest node caught up by sync')
  // Double-signing is caught and punished, and only the byzantine are.
  assert.ok(s.punished.length > 0, 'evidence of equivocation was committed')
  for (const i of s.honest) {
    const id = s.signers[i]!.peerId
    assert.equal(getAccount(s.replicas[i]!.state, id).stake, 10_000n, `honest ${i} never slashed`)
  }
})

test('with the byzantine third silent and messages lost, finality goes on', (t) => {
  // Every round needs every honest vote, and a lost one comes back only by resending.
  const s = sim(['withhold'], { lieRate: 1 })
  s.start()
  const done = s.runUntil(() => s.minHeight() >= 100, 2_000_000)
  report(t, s)
  assert.ok(done, `seed ${SEED}: heights ${s.heights().join(',')}`)
  assertAgreedUpTo(s, 100)
  assert.equal(s.stats.honestRefused, 0, `seed ${SEED}: no honest message (a re-proposal either) is refused`)
})

test('a node that missed a decision catches up from its peers, without the stall watchdog', (t) => {
  // The replicas alone (no 15-s watchdog of the node shell): one that lost the last precommits
  // must learn from its peers' messages that it is behind, even when those ahead hold less than
  // a third of the power.
  const s = sim(['withhold'], { lieRate: 1, stallSyncMs: 0 })
  s.start()
  const done = s.runUntil(() => s.minHeight() >= 100, 2_000_000, 60_000)
  report(t, s)
  assert.ok(done, `seed ${SEED}: heights ${s.heights().join(',')}`)
  assertAgreedUpTo(s, 100)
})

test('equivocation is committed as evidence, and the double-signers are slashed and jailed', (t) => {
  const s = sim(['equivocate'], { jailBlocks: 50, lieRate: 0.8 })
  s.start()
  const byzIds = BYZANTINE.map((i) => s.signers[i]!.peerId)
  const jailed = (): boolean =>
    getValidatorEntries(s.replicas[0]!.state).filter((v) => byzIds.includes(v.id) && v.jailedUntil > 0)
      .length === 2
  const caught = s.runUntil(jailed, 600_000)
  report(t, s)
  assert.ok(caught, `seed ${SEED}: both equivocators jailed (heights ${s.heights().join(',')})`)
  for (const id of byzIds) assert.ok(getAccount(s.replicas[0]!.state, id).stake < 10_000n, 'slashed')
  const h = s.minHeight()
  assert.ok(
    s.runUntil(() => s.minHeight() >= h + 20, 600_000),
    'finality goes on',
  )
  assertAgreedUpTo(s, h + 20)
})

test('a proposal with a forged body (header and signature intact) does not stop finality', (t) => {
  // Every honest proposal is copied with another body and rushed to one honest node ahead of the
  // real one; the byzantine keep quiet, so every honest prevote is needed.
  const s = sim(['forgedBody', 'withhold'], { lieRate: 1 })
  s.start()
  const done = s.runUntil(() => s.minHeight() >= 30, 600_000)
  report(t, s)
  assertSafe(s)
  assert.ok(
    done,
    `seed ${SEED}: heights ${s.heights().join(',')} after ${s.stats.told.forgedBody} forged bodies`,
  )
  assertAgreedUpTo(s, 30)
})

test("replayed, malformed and strangers' messages are harmless", (t) => {
  const s = sim(['replay', 'malformed', 'stranger'], { mischiefMs: 20 })
  s.start()
  const done = s.runUntil(() => s.minHeight() >= 50, 600_000)
  report(t, s)
  assert.ok(done, `seed ${SEED}: heights ${s.heights().join(',')}`)
  assert.ok(s.stats.told.replay > 100 && s.stats.told.malformed > 100 && s.stats.told.stranger > 100)
  assert.ok(
    s.stats.undecodable > 50 && s.stats.badSignature > 10,
    'the decoder and the signature check refused',
  )
  assertAgreedUpTo(s, 50)
})

test('lies about far heights and huge rounds do not switch off catch-up', (t) => {
  // The byzantine vote honestly at first, so the chain goes on while one honest node is cut off.
  // Their lies sign conflicting votes (two for one far round, say), which is caught as
  // double-signing: jailBlocks 0 keeps them in the set (slashed, not jailed), or the chain could
  // not go on without node 0.
  const s = sim(['farFuture', 'nearFuture', 'hugeRound', 'stranger'], { mischiefMs: 20, jailBlocks: 0 })
  s.start()
  assert.ok(
    s.runUntil(() => s.minHeight() >= 10, 600_000),
    `seed ${SEED}: heights ${s.heights().join(',')}`,
  )
  // Node 0 has heard plenty of lies (votes for 2^53 - 1 among them); now it misses 20 blocks.
  s.isolated.add(0)
  const others = s.honest.filter((i) => i !== 0)
  const cutAt = s.replicas[0]!.height
  assert.ok(
    s.runUntil(() => s.minHeight(others) >= cutAt + 20, 600_000),
    'the others go on without it',
  )
  // It returns, and the byzantine stop voting: nothing finalizes unless node 0 catches up.
  s.isolated.delete(0)
  s.lies.add('withhold')
  const target = s.maxHeight() + 20
  const caughtUp = s.runUntil(() => s.minHeight() >= target, 600_000)
  report(t, s)
  assert.ok(caughtUp, `seed ${SEED}: heights ${s.heights().join(',')} (node 0 at ${s.replicas[0]!.height})`)
  assert.ok(s.stats.synced >= 20, `node 0 synced the blocks it missed (${s.stats.synced})`)
  assertAgreedUpTo(s, target)
})
