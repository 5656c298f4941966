import { test } from 'node:test'
import assert from 'node:assert/strict'
import { OrtRaceBackend } from '../../../src/engine/index.js'
import { ReferenceBackend, H } from '../../../src/race/index.js'
import { raceVectors } from '../../helpers/raceVectors.js'

const fx = raceVectors()

test('the onnxruntime CPU backend reproduces the test vectors within the tolerance, verdicts included', async () => {
  const ort = await OrtRaceBackend.create(fx.profile, fx.seed, { batch: 64 })
  try {
    const d = await ort.distances(
      fx.nodeSeed,
      fx.vectors.map((v) => v.nonce),
    )
    fx.vectors.forEach((v, i) => {
      assert.ok(
        Math.abs(d[i]! - v.distance) <= fx.profile.tolerance,
        `nonce ${v.nonce}: ${d[i]} vs ${v.distance}`,
      )
      // A verdict may differ only where the reference distance is within the tolerance of τ.
      if (Math.abs(v.distance - fx.tau) > fx.profile.tolerance) assert.equal(d[i]! < fx.tau, v.valid)
    })
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
