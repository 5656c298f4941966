import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  H,
  nodeSeed,
  Stream,
  threshold,
  cosineTail,
  tokensAndPermutation,
  inputSeed,
  ReferenceBackend,
  RaceReference,
  generateWeights,
  checkProfile,
  judgeSample,
} from '../../../src/race/index.js'
import { raceVectors } from '../../helpers/raceVectors.js'

const fx = raceVectors()

test('the PRNG is AES-256-CTR over counter blocks, as documented', () => {
  const words = new Stream(new Uint8Array(32), 0).words(4)
  assert.deepEqual([...words], fx.prng.firstWords)
  // Stream ids separate tensors: stream 1 differs from stream 0 under the same key.
  assert.notDeepEqual([...new Stream(new Uint8Array(32), 1).words(4)], fx.prng.firstWords)
})

test('τ comes from q and V in closed form: the isotropic cosine tail at τ is q', () => {
  for (const [q, vocab] of [
    [0.05, 256],
    [1 / 900, 8192],
    [0.2, 64],
  ] as const) {
    const tau = threshold({ q, vocab })
    const c = 1 - (tau * tau) / 2
    assert.ok(Math.abs(cosineTail(c, vocab - 1) - q) < q * 1e-6, `q=${q}, V=${vocab}`)
  }
  assert.equal(threshold(fx.profile), fx.tau)
  // Large V: the cosine is close to normal with variance 1/(V−1); τ agrees with that approximation.
  const tau = threshold({ q: 1 / 900, vocab: 8192 })
  const approx = Math.sqrt(2 - 2 * (3.0603 / Math.sqrt(8191)))
  assert.ok(Math.abs(tau - approx) < 1e-3)
})

test('tokens are in range and the output permutation is a permutation', () => {
  const { tokens, perm } = tokensAndPermutation(inputSeed(fx.seed, fx.nodeSeed, 7), 4, 256)
  assert.ok([...tokens].every((t) => t >= 0 && t < 256))
  assert.deepEqual(
    [...perm].sort((a, b) => a - b),
    Array.from({ length: 256 }, (_, i) => i),
  )
})

test('the reference reproduces the committed test vectors exactly', async () => {
  assert.equal(checkProfile(fx.profile), undefined)
  assert.deepEqual(nodeSeed(fx.publicKey), fx.nodeSeed)
  const ref = new ReferenceBackend(fx.profile, fx.seed)
  const d = await ref.distances(
    fx.nodeSeed,
    fx.vectors.map((v) => v.nonce),
  )
  fx.vectors.forEach((v, i) => {
    assert.equal(d[i], v.distance, `nonce ${v.nonce}`)
    assert.equal(d[i]! < fx.tau, v.valid)
  })
  assert.ok(
    fx.vectors.some((v) => v.valid) && fx.vectors.some((v) => !v.valid),
    'the vectors hold both verdicts',
  )
})

test('a nonce is bound to its node and its epoch: the same nonce means something else elsewhere', () => {
  const ref = new RaceReference(fx.profile, generateWeights(fx.profile, fx.seed), fx.seed)
  const valid = fx.vectors.filter((v) => v.valid).map((v) => v.nonce)
  // Copied to another node (another node seed), the valid nonces are valid only at the base rate.
  const other = nodeSeed(H('cordex/test/another-key'))
  const stillValid = valid.filter((n) => ref.distance(other, n) < ref.tau).length
  assert.ok(stillValid <= valid.length / 2, `${stillValid} of ${valid.length} still valid for another node`)
  // Under another epoch's seed, the same nonces land elsewhere too.
  const seed2 = H('cordex/test/race-seed-2')
  const ref2 = new RaceReference(fx.profile, generateWeights(fx.profile, seed2), seed2)
  const validThere = valid.filter((n) => ref2.distance(fx.nodeSeed, n) < ref2.tau).length
  assert.ok(validThere <= valid.length / 2, `${validThere} of ${valid.length} valid under another seed`)
})

test('over 20,000 devnet nonces the success rate matches q', () => {
  // Four epoch seeds of 5,000 nonces each: the rate varies a little with the target of an epoch,
  // so the sample spans several.
  let hits = 0
  const n = 20_000
  for (let s = 0; s < 4; s++) {
    const seed = H('cordex/test/rate', Uint8Array.of(s))
    const ref = new RaceReference(fx.profile, generateWeights(fx.profile, seed), seed)
    for (let i = 0; i < n / 4; i++) if (ref.distance(fx.nodeSeed, i) < ref.tau) hits++
  }
  const q = fx.profile.q
  const sd = Math.sqrt(n * q * (1 - q))
  assert.ok(Math.abs(hits - n * q) < 4 * sd, `${hits} successes, expected ${n * q} ± ${Math.round(4 * sd)}`)
})

test('a validator judging a sample rejects, with its reason, nonces that miss the threshold, a copied list and another epoch', () => {
  const ref = new RaceReference(fx.profile, generateWeights(fx.profile, fx.seed), fx.seed)
  const valid = fx.vectors.filter((v) => v.valid).map((v) => v.nonce)
  const invalid = fx.vectors
    .filter((v) => !v.valid)
    .map((v) => v.nonce)
    .slice(0, 16)
  const judge = (node: Uint8Array, r: RaceReference, nonces: number[]): ReturnType<typeof judgeSample> =>
    judgeSample(
      fx.profile,
      nonces.map((n) => r.distance(node, n)),
      2,
    )
  // The honest proof passes.
  const honest = judge(fx.nodeSeed, ref, valid)
  assert.ok(honest.accepted, honest.reason)
  assert.equal(honest.failures, 0)
  // Nonces that do not meet the threshold.
  const weak = judge(fx.nodeSeed, ref, invalid)
  assert.ok(!weak.accepted)
  assert.match(weak.reason, /do not meet the threshold/)
  // The same valid list, claimed by another node (its node seed differs).
  const copied = judge(nodeSeed(H('cordex/test/copier')), ref, valid)
  assert.ok(!copied.accepted, `copied list: ${copied.reason}`)
  // The same list for another epoch's seed.
  const seed2 = H('cordex/test/other-epoch')
  const stale = judge(
    fx.nodeSeed,
    new RaceReference(fx.profile, generateWeights(fx.profile, seed2), seed2),
    valid,
  )
  assert.ok(!stale.accepted, `other epoch: ${stale.reason}`)
  // Float noise within the tolerance never fails a nonce: τ + tolerance/2 still passes.
  assert.equal(judgeSample(fx.profile, [fx.tau + fx.profile.tolerance / 2], 0).failures, 0)
  assert.equal(judgeSample(fx.profile, [fx.tau + fx.profile.tolerance * 2], 0).failures, 1)
})
