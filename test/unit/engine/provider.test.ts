import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { pino } from 'pino'
import {
  Engine,
  EngineError,
  GREEDY,
  webgpuUnavailable,
  type EngineOptions,
  type GenerationRequest,
} from '../../../src/engine/index.js'
import { ROOT } from '../../helpers/cli.js'
import type { Logger } from '../../../src/util/logger.js'

// engine.executionProvider (issue 11, item 4). Without a WebGPU adapter (these machines) 'auto'
// falls back to the CPU and says why, and 'webgpu' refuses to start; where onnxruntime finds an
// adapter, the GPU must give the CPU's greedy tokens. The adapter tests skip without one, as the
// Race's WebGPU tests do.

const why = await webgpuUnavailable()
const needsAdapter = why === null ? {} : { skip: `no WebGPU adapter: ${why}` }
const needsNoAdapter = why === null ? { skip: 'a WebGPU adapter is available' } : {}

const LLAMA = join(ROOT, 'test', 'fixtures', 'models', 'llama-tiny')
const KJV = join(ROOT, 'models', 'kjv-small')

const opts = (executionProvider: EngineOptions['executionProvider'], models = [LLAMA]): EngineOptions => ({
  models,
  maxActive: 1,
  maxQueue: 4,
  ...(executionProvider !== undefined ? { executionProvider } : {}),
})

/** A logger whose lines land in `lines`. */
function capture(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const log = pino(
    { level: 'info' },
    { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) },
  )
  return { log, lines }
}

test('the default provider is the CPU, and the fingerprint says so', async () => {
  const { log, lines } = capture()
  const engine = await Engine.start(opts(undefined), { log })
  try {
    assert.equal(engine.provider, 'cpu')
    const id = engine.models()[0]!.id
    assert.match(engine.fingerprint(), new RegExp(`^onnxruntime-node/[0-9.]+/cpu/${id}$`))
    assert.deepEqual(lines, [], 'nothing to say when the CPU was asked for')
  } finally {
    await engine.stop()
  }
})

test('auto without an adapter runs on the CPU and logs why, once', needsNoAdapter, async () => {
  const { log, lines } = capture()
  const engine = await Engine.start(opts('auto', [LLAMA, KJV]), { log })
  try {
    assert.equal(engine.provider, 'cpu')
    assert.match(engine.fingerprint(), /^onnxruntime-node\/[0-9.]+\/cpu\//)
    assert.equal(lines.length, 1, JSON.stringify(lines))
    assert.equal(lines[0]!.provider, 'cpu')
    assert.match(String(lines[0]!.reason), /WebGPU adapter/)
    assert.match(String(lines[0]!.msg), /inference runs on the CPU/)
    const r = await engine.generate(engine.models()[0]!.id, greedy(engine, 8), () => {})
    assert.equal(r.completionTokens, 8)
  } finally {
    await engine.stop()
  }
})

test('webgpu asked for without an adapter is a startup error that says so', needsNoAdapter, async () => {
  await assert.rejects(
    Engine.start(opts('webgpu')),
    (e: unknown) =>
      e instanceof EngineError &&
      e.code === 'PROVIDER_UNAVAILABLE' &&
      /engine\.executionProvider is "webgpu", but onnxruntime cannot start WebGPU here: .*adapter/.test(
        e.message,
      ),
  )
})

function greedy(engine: Engine, maxTokens: number): GenerationRequest {
  const model = engine.models()[0]!
  return {
    promptIds: model.encode('And the LORD said unto Moses, Speak unto the children of Israel'),
    sampling: GREEDY,
    seed: new Uint8Array(32),
    maxTokens,
    stop: [],
  }
}

test('with an adapter, the GPU gives the CPU greedy tokens', needsAdapter, async () => {
  for (const dir of [LLAMA, KJV, join(ROOT, 'test', 'fixtures', 'models', 'llama-tiny-q4')]) {
    const cpu = await Engine.start(opts('cpu', [dir]))
    const gpu = await Engine.start(opts('auto', [dir]))
    try {
      assert.equal(gpu.provider, 'webgpu')
      assert.match(gpu.fingerprint(), /\/webgpu\//)
      const id = cpu.models()[0]!.id
      const a = await cpu.generate(id, greedy(cpu, 64), () => {})
      const b = await gpu.generate(id, greedy(gpu, 64), () => {})
      assert.deepEqual(b.tokens, a.tokens, dir)
      // And a CPU verifier accepts the GPU's answer at the default epsilon.
      const v = await cpu.replay(id, { ...greedy(cpu, 64), tokens: b.tokens })
      assert.equal(v.ok, true, JSON.stringify(v))
    } finally {
      await cpu.stop()
      await gpu.stop()
    }
  }
})
