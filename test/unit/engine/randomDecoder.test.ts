import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { Engine, GREEDY, type GenerationRequest } from '../../../src/engine/index.js'
import { ROOT, tempDir } from '../../helpers/cli.js'

// scripts/model/random-decoder.mjs writes the ≥100M-parameter decoder bench:infer measures; here a
// small one of the same construction: the engine loads it as a standard export (weights in
// model.onnx_data, pinned), and its KV-cache steps agree with its teacher-forced pass, which a
// wrong causal mask or cache layout would break.

test('the random decoder script writes a standard export the engine runs and replays', async () => {
  const tmp = tempDir()
  try {
    const out = join(tmp.path, 'gpt2-random-small')
    const args = ['--out', out, '--layers', '2', '--width', '64', '--heads', '4', '--context', '128']
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'model', 'random-decoder.mjs'), ...args], {
      cwd: ROOT,
      encoding: 'utf8',
    })
    assert.equal(r.status, 0, r.stderr)
    const engine = await Engine.start({ models: [out], maxActive: 1, maxQueue: 1 })
    try {
      const model = engine.models()[0]!
      assert.equal(model.manifest.files['model.onnx_data']?.length, 64)
      assert.deepEqual(model.spec.eos, [], 'no end-of-sequence id: generation runs to its limit')
      const req: GenerationRequest = {
        promptIds: model.encode('And the LORD said unto Moses'),
        sampling: GREEDY,
        seed: new Uint8Array(32),
        maxTokens: 48,
        stop: [],
      }
      const g = await engine.generate(model.id, req, () => {})
      assert.equal(g.tokens.length, 48)
      const v = await engine.replay(model.id, { ...req, tokens: g.tokens }, { logit: 0, draw: 0 })
      assert.equal(v.ok, true, JSON.stringify(v))
    } finally {
      await engine.stop()
    }
  } finally {
    tmp.cleanup()
  }
})
