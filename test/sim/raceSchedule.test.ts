import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  RaceScheduleSim,
  mainnetProvers,
  mainnetSetup,
  raceShare,
  weightStats,
  type ProverSpec,
  type SimOptions,
} from '../../bench/raceMainnet.js'
import { raceBlocksAtLeast } from '../../src/node/config/raceFit.js'
import type { RaceParams } from '../../src/ledger/epoch/records.js'

// The Race's schedule and weights on mainnet's parameters with a short epoch, on a fake clock: the
// real ledger rules block by block, with the simulated provers, validators and block pace of
// `npm run sim:race-mainnet` (bench/raceMainnet.ts). Every statistical bound is Z standard errors
// of the binomial weight a prover of N evaluated nonces gets (N·q, variance N·q·(1−q)).

/** Seed of every run; set CORDEX_SIM_SEED to explore others (a failure names its seed). */
const SEED = Number(process.env.CORDEX_SIM_SEED ?? 20261111)
const Z = 5
const setup = mainnetSetup()
const race = setup.genesis.race!
const bi = setup.blockIntervalMs
const ebi = setup.emptyBlockIntervalMs
const timed = race.raceMs + race.submitMs + race.validateMs

function options(
  epochBlocks: number,
  busy: boolean,
  provers: ProverSpec[],
  races: number,
  raceOverrides: Partial<RaceParams> = {},
): SimOptions {
  return {
    genesis: {
      ...setup.genesis,
      params: { ...setup.genesis.params, epochBlocks },
      race: { ...race, ...raceOverrides },
    },
    q: setup.profile.q,
    blockIntervalMs: bi,
    emptyBlockIntervalMs: ebi,
    busy,
    provers,
    genesisValidators: provers.length,
    races,
    seed: SEED,
    checkBooks: true,
  }
}

test(`a busy chain: Races recur every epochBlocks blocks and take the share of wall time the params imply (seed ${SEED})`, () => {
  // Every block 2 s apart: a Race spans (commit + reveal − 1) blocks to the gun, then the first
  // block at or past gun + raceMs + submitMs + validateMs activates; an epoch is epochBlocks blocks.
  const epochBlocks = 600
  const res = new RaceScheduleSim(options(epochBlocks, true, mainnetProvers(0.1), 3)).run()
  assert.equal(res.races.length, 3)
  const raceWall = (race.commitBlocks + race.revealBlocks - 1) * bi + Math.ceil(timed / bi) * bi
  for (const [k, r] of res.races.entries()) {
    assert.equal(r.startHeight, 1 + k * epochBlocks, `Race ${k} begins epochBlocks after the one before`)
    assert.equal(r.nextStartHeight - r.startHeight, epochBlocks)
    assert.equal(r.gunTime - r.startTime, (race.commitBlocks + race.revealBlocks - 1) * bi)
    const s = raceShare(r, race.raceMs)
    assert.equal(s.raceWallMs, raceWall)
    assert.equal(s.epochWallMs, epochBlocks * bi)
    assert.equal(s.share, raceWall / (epochBlocks * bi))
    assert.equal(s.racing, race.raceMs / (epochBlocks * bi))
    assert.ok(
      r.activationHeight - r.startHeight < epochBlocks,
      'the blocks after activation serve inference only',
    )
  }
})

test(`an idle chain: Races recur every epochBlocks blocks; empty serving blocks set the epoch's wall time (seed ${SEED})`, () => {
  const epochBlocks = 300
  const res = new RaceScheduleSim(options(epochBlocks, false, mainnetProvers(0.1), 3)).run()
  assert.equal(res.races.length, 3)
  for (const [k, r] of res.races.entries()) {
    assert.equal(r.startHeight, 1 + k * epochBlocks)
    assert.equal(r.nextStartHeight - r.startHeight, epochBlocks)
    const raceBlocks = r.activationHeight - r.startHeight
    // The config loader's premise (src/node/config/raceFit.ts): no Race spans fewer blocks.
    assert.ok(
      raceBlocks + 1 >= raceBlocksAtLeast({ epochBlocks, race, emptyBlockIntervalMs: ebi }),
      `Race ${k} spans ${raceBlocks + 1} blocks`,
    )
    // Each block follows its parent after 2 to 10 s; the timed phases end at the first block past them.
    const toGun = r.gunTime - r.startTime
    assert.ok(toGun >= (race.commitBlocks + race.revealBlocks - 1) * bi, `${toGun} ms to the gun`)
    assert.ok(toGun <= (race.commitBlocks + race.revealBlocks - 1) * ebi, `${toGun} ms to the gun`)
    const afterGun = r.activationTime - r.gunTime
    assert.ok(afterGun >= timed && afterGun < timed + ebi, `${afterGun} ms from the gun to activation`)
    // Serving blocks carry nothing on this chain: each comes emptyBlockIntervalMs after its parent.
    const s = raceShare(r, race.raceMs)
    assert.equal(s.epochWallMs, s.raceWallMs + (epochBlocks - raceBlocks) * ebi)
    assert.equal(s.racing, race.raceMs / s.epochWallMs)
    assert.ok(s.share > timed / s.epochWallMs && s.share < 1)
  }
})

test(`weight is proportional to speed, from CPU-class to GPU-class, within the binomial error (seed ${SEED})`, () => {
  const provers = mainnetProvers(0.5)
  const o = options(200, false, provers, 3)
  const res = new RaceScheduleSim(o).run()
  const w = weightStats(res, provers, o.q, o.genesis.race!)
  assert.deepEqual(w.capped, [], 'no cap binds at mainnet limits')
  assert.deepEqual(w.lost, [], 'every prover with a valid nonce got its proof accepted')
  for (const r of res.races) {
    for (const p of r.proofs) {
      if (p.valid === 0) continue
      assert.equal(p.outcome, 'included')
      assert.equal(p.weight, p.valid, 'the weight is the count of valid nonces')
      assert.ok(
        p.txBytes <= o.genesis.params.maxTxBytes,
        `a proof of ${p.valid} nonces takes ${p.txBytes} bytes`,
      )
    }
  }
  for (const row of w.rows) {
    assert.ok(
      Math.abs(row.ratio - 1) < Z * row.se,
      `${row.kind}: weight ${row.weight} against ${row.expected.toFixed(1)} expected (ratio ${row.ratio.toFixed(4)} ± ${row.se.toFixed(4)})`,
    )
  }
  assert.ok(Math.abs(w.slope - 1) < Z * w.slopeSe, `slope ${w.slope} ± ${w.slopeSe}`)
  assert.ok(Math.abs(w.intercept) < Z * w.interceptSe, `intercept ${w.intercept} ± ${w.interceptSe}`)
  assert.ok(w.chi2 < w.chi2Mean + Z * w.chi2Sd, `Σz² ${w.chi2} against ${w.chi2Mean} ± ${w.chi2Sd}`)
})

test(`caps break proportionality, and the analysis names the capped provers (seed ${SEED})`, () => {
  // Mainnet's limits never bind (above); these do: the bf16 prover finds about 25,000 valid nonces
  // and is truncated to 10,000; the fp32 one finds about 4,900 and is capped at 2,000 weight.
  const provers: ProverSpec[] = [
    ...mainnetProvers(0.2).filter((p) => p.kind === 'cpu' || p.kind === 'webgpu'),
    { kind: 'torch-fp32', speed: 7300 },
    { kind: 'torch-bf16', speed: 38000 },
  ]
  const o = options(200, false, provers, 2, { maxProofNonces: 10_000, maxWeightPerPeer: 2_000 })
  const res = new RaceScheduleSim(o).run()
  const p = o.genesis.race!
  const w = weightStats(res, provers, o.q, p)
  const fp32 = provers.length - 2
  const bf16 = provers.length - 1
  assert.deepEqual(
    w.capped.map((c) => [c.prover, c.epoch, c.by, c.weight]),
    [
      [fp32, 0, 'maxWeightPerPeer', 2_000],
      [bf16, 0, 'maxProofNonces', 2_000],
      [fp32, 1, 'maxWeightPerPeer', 2_000],
      [bf16, 1, 'maxProofNonces', 2_000],
    ],
  )
  for (const r of res.races) assert.equal(r.proofs[bf16]!.submitted, p.maxProofNonces)
  const all = weightStats(res, provers, o.q, p, true)
  assert.ok(
    Math.abs(all.slope - 1) > Z * all.slopeSe,
    `with the capped provers, weight is not proportional: slope ${all.slope} ± ${all.slopeSe}`,
  )
  assert.ok(Math.abs(w.slope - 1) < Z * w.slopeSe, `without them it is: slope ${w.slope} ± ${w.slopeSe}`)
})
