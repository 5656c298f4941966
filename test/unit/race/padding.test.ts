import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { taggedHash, u64 } from '../../../src/ledger/crypto.js'
import { sampleIndices } from '../../../src/ledger/epoch/seed.js'
import { NonceTree, verifySample } from '../../../src/race/index.js'
import {
  acceptProbability,
  committeeMembers,
  memberAccept,
  paddingGain,
  recomputedPerProof,
  type PaddingParams,
} from '../../../src/race/padding.js'

// What the shipped genesis says (docs/race.md, "Padding a proof does not pay").
const shipped = (network: string): PaddingParams => {
  const { race } = (
    JSON.parse(readFileSync(new URL(`../../../../configs/${network}.json`, import.meta.url), 'utf8')) as {
      genesis: { race: PaddingParams }
    }
  ).genesis
  return {
    sampleSize: race.sampleSize,
    maxSampleFailures: race.maxSampleFailures,
    committeeSize: race.committeeSize,
  }
}
const MAINNET = shipped('mainnet')
const DEVNET = shipped('devnet')
// What genesis said before: failures tolerated.
const MAINNET_NOW: PaddingParams = { sampleSize: 32, maxSampleFailures: 3, committeeSize: 8 }
const DEVNET_NOW: PaddingParams = { sampleSize: 16, maxSampleFailures: 2, committeeSize: 0 }

test('small cases agree with their closed forms', () => {
  const f = 0.03
  const p = (1 - f) ** 16
  assert.ok(Math.abs(memberAccept(f, 16, 0).accept - p) < 1e-13)
  assert.ok(Math.abs(memberAccept(f, 16, 0).reject - (1 - p)) < 1e-13)
  const p1 = p + 16 * f * (1 - f) ** 15
  assert.ok(Math.abs(acceptProbability(f, { ...DEVNET, maxSampleFailures: 1, validators: 1 }) - p1) < 1e-13)
  // Three judges: two must accept. With the prover among them, one of the other two.
  const three = acceptProbability(f, { ...DEVNET, validators: 3 })
  assert.ok(Math.abs(three - (p ** 3 + 3 * p ** 2 * (1 - p))) < 1e-13)
  const self = acceptProbability(f, { ...DEVNET, validators: 3, colluders: 1 })
  assert.ok(Math.abs(self - (1 - (1 - p) ** 2)) < 1e-13)
  // Eight: five must accept.
  let five = 0
  for (let j = 5; j <= 8; j++) five += [1, 8, 28, 56, 70, 56, 28, 8, 1][j]! * p ** j * (1 - p) ** (8 - j)
  assert.ok(Math.abs(acceptProbability(f, { ...MAINNET, sampleSize: 16 }) - five) < 1e-13)
  assert.equal(acceptProbability(0, MAINNET_NOW), 1)
  assert.equal(acceptProbability(1, MAINNET_NOW), 0)
})

test('committees: a fixed size, or every validator when it is 0 or covers them', () => {
  assert.equal(committeeMembers(MAINNET), 8)
  assert.equal(committeeMembers({ ...MAINNET, validators: 5 }), 5)
  assert.equal(committeeMembers({ ...MAINNET, validators: 50 }), 8)
  assert.equal(committeeMembers({ ...DEVNET, validators: 4 }), 4)
  assert.throws(() => committeeMembers(DEVNET), RangeError)
  assert.equal(recomputedPerProof(MAINNET), 256)
  assert.equal(recomputedPerProof({ ...DEVNET, validators: 5 }), 80)
})

test('one judge tolerating no failure: padding never pays; colluders holding the majority: it always does', () => {
  assert.deepEqual(paddingGain({ ...DEVNET, validators: 1 }), { gain: 1, worstF: 0 })
  assert.equal(paddingGain({ ...DEVNET, validators: 1, colluders: 1 }).gain, Infinity)
  assert.equal(paddingGain({ ...MAINNET, colluders: 5 }).gain, Infinity)
  assert.equal(paddingGain({ ...MAINNET, maxSampleFailures: 32 }).gain, Infinity)
})

/**
 * A padding prover simulated end to end: `valid` nonces and `invalid` ones in one committed list;
 * each of `members` judges draws its positions with `sampleIndices` from a random VRF output,
 * fetches their openings and counts the failures (an opening that does not verify, or an invalid
 * nonce); colluders always accept.
 */
function simulate(
  p: PaddingParams,
  valid: number,
  invalid: number,
  trials: number,
  seed: string,
): { proofs: number; members: number; judged: number } {
  const count = valid + invalid
  const bad = new Set<number>()
  const rand = (i: number): number =>
    new DataView(taggedHash(`test/padding/${seed}`, u64(i)).buffer).getUint32(0) / 2 ** 32
  // Which positions hold the invalid nonces: a random `invalid` of them.
  const order = Array.from({ length: count }, (_, i) => i)
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(rand(i) * (i + 1))
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  const nonces = Array.from({ length: count }, (_, i) => 3 * i + 1)
  for (const i of order.slice(0, invalid)) bad.add(nonces[i]!)
  const tree = new NonceTree(nonces)
  const members = committeeMembers(p)
  const colluders = Math.min(p.colluders ?? 0, members)
  let proofs = 0
  let accepting = 0
  for (let t = 0; t < trials; t++) {
    let yes = colluders
    for (let k = colluders; k < members; k++) {
      const vrf = taggedHash(`test/padding/vrf/${seed}`, u64(t), u64(k))
      let failures = 0
      for (const i of sampleIndices(vrf, count, p.sampleSize)) {
        // Openings are fetched and checked in full in the first trials only (merkle.test.ts
        // checks them at length): the list itself serves the rest.
        const ok = t >= 10 || verifySample(tree.root, count, tree.sample(i))
        if (!ok || bad.has(nonces[i]!)) failures++
      }
      if (failures <= p.maxSampleFailures) {
        yes++
        accepting++
      }
    }
    if (2 * yes > members) proofs++
  }
  return { proofs: proofs / trials, members: accepting / (trials * (members - colluders)), judged: trials }
}

function close(observed: number, expected: number, n: number, what: string): void {
  const sigma = Math.sqrt((expected * (1 - expected)) / n)
  assert.ok(
    Math.abs(observed - expected) <= 4 * sigma + 0.005,
    `${what}: simulated ${observed.toFixed(4)}, exact ${expected.toFixed(4)} (σ ${sigma.toFixed(4)})`,
  )
}

for (const [name, p, valid, invalid] of [
  ['mainnet today (32, 3, 8)', MAINNET_NOW, 18_400, 1_600],
  ['recommended mainnet (32, 0, 8)', MAINNET, 19_600, 400],
  [
    'recommended devnet (16, 0, all 5, the prover among them)',
    { ...DEVNET, validators: 5, colluders: 1 },
    19_000,
    1_000,
  ],
] as const) {
  test(`the exact acceptance agrees with a simulated padding prover: ${name}`, () => {
    const trials = 800
    const sim = simulate(p, valid, invalid, trials, name)
    const f = invalid / (valid + invalid)
    const { accept } = memberAccept(f, p.sampleSize, p.maxSampleFailures)
    const members = committeeMembers(p) - (p.colluders ?? 0)
    close(sim.members, accept, trials * members, 'a member accepts')
    close(sim.proofs, acceptProbability(f, p), trials, 'the proof is accepted')
  })
}

test('at the shipped parameters padding pays under 1%, even with the prover on its own committee', () => {
  for (const colluders of [0, 1]) {
    const main = paddingGain({ ...MAINNET, colluders })
    assert.ok(main.gain < 1.01, `mainnet, ${colluders} colluders: ${main.gain}`)
    for (const validators of [3, 4, 5]) {
      const dev = paddingGain({ ...DEVNET, validators, colluders })
      assert.ok(dev.gain < 1.01, `devnet of ${validators}, ${colluders} colluders: ${dev.gain}`)
    }
  }
  assert.ok(paddingGain(MAINNET).gain < 1.002)
})

test('tolerating failures, as genesis did before, padding pays several percent', () => {
  // Tolerating failures lets a padder keep nearly every member while a few percent of its list is invalid.
  const main = paddingGain(MAINNET_NOW)
  assert.ok(main.gain > 1.05 && main.worstF > 0.03, `${main.gain} at ${main.worstF}`)
  assert.ok(paddingGain({ ...DEVNET_NOW, validators: 5 }).gain > 1.05)
})

test('the worst fraction is a maximum: nearby fractions earn less', () => {
  for (const p of [MAINNET, MAINNET_NOW, { ...DEVNET, validators: 4, colluders: 1 }]) {
    const { gain, worstF } = paddingGain(p)
    for (const g of [worstF * 0.9, worstF * 1.1, worstF / 2, Math.min(0.99, worstF * 2)])
      assert.ok(acceptProbability(g, p) / (1 - g) <= gain + 1e-12, `${g} vs ${worstF}`)
    assert.ok(Math.abs(acceptProbability(worstF, p) / (1 - worstF) - gain) < 1e-12)
  }
})
