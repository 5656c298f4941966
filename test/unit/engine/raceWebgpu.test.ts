import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  WebGpuRaceBackend,
  WebGpuUnavailableError,
  webgpuAvailable,
  type WebGpuRaceOptions,
} from '../../../src/engine/index.js'
import { ReferenceBackend, H } from '../../../src/race/index.js'
import { raceVectors, assertMatchesVectors } from '../../helpers/raceVectors.js'

const fx = raceVectors()

// Dawn options for this run, space-separated: e.g. CORDEX_TEST_WEBGPU_FLAGS=backend=opengl runs these
// tests on Mesa's software OpenGL where there is no GPU (see docs/race.md).
const gpu: WebGpuRaceOptions = {
  dawnFlags: (process.env.CORDEX_TEST_WEBGPU_FLAGS ?? '').split(/\s+/).filter((s) => s !== ''),
}
const available = await webgpuAvailable(gpu)
const needsAdapter = available ? {} : { skip: 'no WebGPU adapter' }

test(
  'without an adapter, creating the WebGPU backend rejects with WebGpuUnavailableError',
  available ? { skip: 'a WebGPU adapter is available' } : {},
  async () => {
    await assert.rejects(
      WebGpuRaceBackend.create(fx.profile, fx.seed, gpu),
      (err: unknown) => err instanceof WebGpuUnavailableError && err.code === 'WEBGPU_UNAVAILABLE',
    )
  },
)

test('webgpuAvailable never throws, even for a backend Dawn does not have', async () => {
  assert.equal(await webgpuAvailable({ dawnFlags: ['backend=no-such-backend'] }), false)
})

test(
  'the WebGPU backend reproduces the test vectors within the tolerance, verdicts included',
  needsAdapter,
  async () => {
    const gpuBackend = await WebGpuRaceBackend.create(fx.profile, fx.seed, { ...gpu, batch: 64 })
    try {
      const d = await gpuBackend.distances(
        fx.nodeSeed,
        fx.vectors.map((v) => v.nonce),
      )
      assertMatchesVectors(fx, d)
    } finally {
      await gpuBackend.close()
    }
  },
)

test(
  'WebGPU and the reference agree on 1,000 nonces of another seed and node, in any batch size and kernel',
  needsAdapter,
  async () => {
    const seed = H('cordex/test/webgpu-agreement')
    const node = H('cordex/test/webgpu-node')
    const nonces = Array.from({ length: 1000 }, (_, i) => 1_000_000 + i * 7)
    const ref = await new ReferenceBackend(fx.profile, seed).distances(node, nonces)
    const runs: WebGpuRaceOptions[] = [
      { batch: 1 },
      { batch: 100 },
      { batch: 1000 },
      { batch: 37, matmul: 'naive' },
    ]
    for (const run of runs) {
      const gpuBackend = await WebGpuRaceBackend.create(fx.profile, seed, { ...gpu, ...run })
      try {
        const d = await gpuBackend.distances(node, nonces)
        let worst = 0
        for (let i = 0; i < nonces.length; i++) worst = Math.max(worst, Math.abs(d[i]! - ref[i]!))
        assert.ok(worst <= fx.profile.tolerance, `${JSON.stringify(run)}: worst difference ${worst}`)
      } finally {
        await gpuBackend.close()
      }
    }
  },
)

test(
  'WebGPU matches the reference on a profile whose sizes are not multiples of the tiles',
  needsAdapter,
  async () => {
    const profile = { ...fx.profile, layers: 3, width: 20, heads: 4, ffn: 50, vocab: 37, seqLen: 3 }
    const seed = H('cordex/test/webgpu-odd')
    const node = H('cordex/test/webgpu-odd-node')
    const nonces = Array.from({ length: 200 }, (_, i) => i)
    const ref = await new ReferenceBackend(profile, seed).distances(node, nonces)
    const gpuBackend = await WebGpuRaceBackend.create(profile, seed, { ...gpu, batch: 7 })
    try {
      const d = await gpuBackend.distances(node, nonces)
      for (let i = 0; i < nonces.length; i++) {
        assert.ok(Math.abs(d[i]! - ref[i]!) <= profile.tolerance, `nonce ${i}: ${d[i]} vs ${ref[i]}`)
      }
    } finally {
      await gpuBackend.close()
    }
  },
)
