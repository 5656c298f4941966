import { test } from 'node:test'
import assert from 'node:assert/strict'
import { OrtRaceBackend, OrtRaceSession } from '../../../src/engine/index.js'
import { ReferenceBackend, H } from '../../../src/race/index.js'
import { raceVectors, assertMatchesVectors } from '../../helpers/raceVectors.js'

const fx = raceVectors()

test('the onnxruntime CPU backend reproduces the test vectors within the tolerance, verdicts included', async () => {
  const ort = await OrtRaceBackend.create(fx.profile, fx.seed, { batch: 64 })
  try {
    const d = await ort.distances(
      fx.nodeSeed,
      fx.vectors.map((v) => v.nonce),
    )
    assertMatchesVectors(fx, d)
  } finally {
    await ort.close()
  }
})

test('onnxruntime and the reference agree on 1,000 nonces of another seed and node, in any batch size', async () => {
  const seed = H('cordex/test/ort-agreement')
  const node = H('cordex/test/ort-node')
  const nonces = Array.from({ length: 1000 }, (_, i) => 1_000_000 + i * 7)
  const ref = await new ReferenceBackend(fx.profile, seed).distances(node, nonces)
  for (const batch of [1, 100, 1000]) {
    const ort = await OrtRaceBackend.create(fx.profile, seed, { batch })
    try {
      const d = await ort.distances(node, nonces)
      let worst = 0
      for (let i = 0; i < nonces.length; i++) worst = Math.max(worst, Math.abs(d[i]! - ref[i]!))
      assert.ok(worst <= fx.profile.tolerance, `batch ${batch}: worst difference ${worst}`)
    } finally {
      await ort.close()
    }
  }
})

test('one session serves seed after seed (it is built before the gun and kept across epochs)', async () => {
  const session = await OrtRaceSession.create(fx.profile, { batch: 64 })
  try {
    const first = session.forSeed(fx.seed)
    assertMatchesVectors(
      fx,
      await first.distances(
        fx.nodeSeed,
        fx.vectors.map((v) => v.nonce),
      ),
    )
    await first.close() // a backend over a shared session leaves the session open
    const seed = H('cordex/test/next-epoch')
    const node = H('cordex/test/ort-node')
    const nonces = [5, 50, 500]
    const ref = await new ReferenceBackend(fx.profile, seed).distances(node, nonces)
    const d = await session.forSeed(seed).distances(node, nonces)
    for (let i = 0; i < nonces.length; i++) assert.ok(Math.abs(d[i]! - ref[i]!) <= fx.profile.tolerance)
  } finally {
    await session.release()
  }
})
