import { test } from 'node:test'
import assert from 'node:assert/strict'
import { genesisState, type Genesis } from '../../../src/ledger/genesis.js'
import { Overlay, type State } from '../../../src/ledger/state/state.js'
import { getEpoch, putEpoch } from '../../../src/ledger/epoch/access.js'
import { putAudit } from '../../../src/ledger/verify/access.js'
import { silentLogger } from '../../../src/util/logger.js'
import { GREEDY } from '../../../src/engine/index.js'
import { arrivals, syntheticQuota, type QuotaInput } from '../../../src/node/synthetic/plan.js'
import { TrafficShapes, fallbackShape, type RequestShape } from '../../../src/node/synthetic/shapes.js'
import { SyntheticTraffic, type SyntheticChain } from '../../../src/node/synthetic/service.js'
import type { PreparedTask, TaskRequest } from '../../../src/node/infer/service.js'
import { seededRandom } from '../../../bench/lib/stats.js'
import { testGenesis, testSigner, TEST_RACE } from '../../helpers/chainSim.js'

const quota = (over: Partial<QuotaInput>, random = seededRandom(1)): ReturnType<typeof syntheticQuota> =>
  syntheticQuota(
    { minTasks: 10, settled: 0, ownSynthetic: 0, prevShare: 0, share: 0.25, maxPerEpoch: 100, ...over },
    random,
  )

test('a validator sends its weight’s share of the shortfall below the threshold, and nothing at or above it', () => {
  assert.deepEqual(
    quota({ settled: 0, share: 0.3 }, () => 0.99),
    { realEstimate: 0, deficit: 10, quota: 3 },
  )
  assert.deepEqual(quota({ settled: 6, share: 0.5 }), { realEstimate: 6, deficit: 4, quota: 2 })
  assert.equal(quota({ settled: 10, share: 1 }).quota, 0, 'at the threshold')
  assert.equal(quota({ settled: 50, share: 1 }).quota, 0, 'above it')
  assert.equal(quota({ settled: 0, share: 0 }).quota, 0, 'no weight, no share')
  assert.equal(quota({ settled: 0, share: 1, maxPerEpoch: 4 }).quota, 4, 'capped')
  // The fraction of a task is sent with its probability: 0.25 × 10 = 2.5 → 2 or 3, 2.5 on average.
  const r = seededRandom(7)
  let sum = 0
  for (let i = 0; i < 4000; i++) sum += quota({}, r).quota
  assert.ok(Math.abs(sum / 4000 - 2.5) < 0.05, `mean ${sum / 4000}`)
})

test('the synthetic tasks of the last epoch are not counted as real: this peer’s own, scaled by its share', () => {
  // 12 settled; this peer (a quarter of the weight) sent 2, so all together sent about 8: 4 real.
  assert.deepEqual(
    quota({ settled: 12, ownSynthetic: 2, prevShare: 0.25, share: 0.25 }, () => 0),
    {
      realEstimate: 4,
      deficit: 6,
      quota: 2,
    },
  )
  assert.equal(quota({ settled: 3, ownSynthetic: 2, prevShare: 0.25 }).realEstimate, 0, 'never below 0')
})

test('validators together keep an idle network at the threshold, without swinging, and stop when real demand covers it', () => {
  const shares = [0.5, 0.3, 0.15, 0.05]
  const T = 20
  const random = seededRandom(3)
  const own = shares.map(() => 0)
  let totals: number[] = []
  let real = 0
  for (let epoch = 0; epoch < 400; epoch++) {
    if (epoch === 300) totals = []
    // Real demand: none for 300 epochs, then 25 an epoch.
    const settled = real + own.reduce((a, b) => a + b, 0)
    const sent = shares.map(
      (share, v) =>
        syntheticQuota(
          { minTasks: T, settled, ownSynthetic: own[v]!, prevShare: share, share, maxPerEpoch: 1000 },
          random,
        ).quota,
    )
    sent.forEach((n, v) => (own[v] = n))
    totals.push(sent.reduce((a, b) => a + b, 0))
    if (epoch === 299) {
      const idle = totals.slice(50)
      const mean = idle.reduce((a, b) => a + b, 0) / idle.length
      assert.ok(Math.abs(mean - T) < 1, `idle epochs average ${mean} synthetic tasks, not ${T}`)
      assert.ok(Math.max(...idle) <= T + shares.length, 'no swing above the threshold')
      real = 25
    }
  }
  // The first busy epoch still carries the last idle plan's tasks; from the next one on, none.
  assert.ok(
    totals.slice(2).every((n) => n === 0),
    `busy epochs sent ${totals.join(',')}`,
  )
})

test('arrivals are as many as asked, in order, within the window', () => {
  const r = seededRandom(5)
  const a = arrivals(50, 10_000, r)
  assert.equal(a.length, 50)
  assert.ok(a.every((t, i) => t >= 0 && t < 10_000 && (i === 0 || a[i - 1]! <= t)))
  assert.deepEqual(arrivals(3, 0, r), [0, 0, 0])
})

const shape = (model: string, promptTokens: number): RequestShape => ({
  model,
  chat: false,
  promptTokens,
  maxTokens: 20,
  sampling: GREEDY,
  stop: [],
})

test('synthetic requests copy the shapes of real ones for the model, from a bounded uniform sample', () => {
  const shapes = new TrafficShapes(8, seededRandom(9))
  const first = shapes.draw('m')
  assert.ok(first.promptTokens >= 4 && first.promptTokens <= 128, 'none seen: the fixed mixture')
  for (let i = 0; i < 100; i++) shapes.observe(shape('m', i))
  shapes.observe(shape('other', 999))
  assert.equal(shapes.size, 8)
  for (let i = 0; i < 20; i++) assert.equal(shapes.draw('m').model, 'm')
  // The sample is uniform over all seen: later shapes are not favoured (their mean is near 50).
  let mean = 0
  for (let run = 0; run < 50; run++) {
    const s = new TrafficShapes(64, seededRandom(100 + run))
    for (let i = 0; i < 1000; i++) s.observe(shape('m', i))
    for (let k = 0; k < 64; k++) mean += s.draw('m').promptTokens
  }
  assert.ok(Math.abs(mean / (50 * 64) - 500) < 30, `mean ${mean / 3200}`)
  const f = fallbackShape('m', seededRandom(2))
  assert.equal(f.model, 'm')
})

// The service, on a ledger the test edits and a gateway that records what it is asked to run.
const [me, other] = [0, 1].map(testSigner) as [ReturnType<typeof testSigner>, ReturnType<typeof testSigner>]
const genesis: Genesis = {
  ...testGenesis([me, other], [3, 1]),
  race: TEST_RACE,
  inference: { unitPrice: 5n, models: [['m', 1]] },
}

function harness(min = 8) {
  const state: State = genesisState(genesis)
  const chain: SyntheticChain = {
    replica: { state, head: { height: 1 } },
    onCommit: () => {},
    offCommit: () => {},
    blockIntervalMs: () => 1000,
  }
  const ran: TaskRequest[] = []
  const timers: Array<() => void> = []
  const gateway = {
    available: () => [{ model: { id: 'm', spec: { contextLength: 256 } }, hosts: 2 }],
    prepare: async (req: TaskRequest) => ({ req }) as PreparedTask,
    run: async (task: PreparedTask) => {
      ran.push(task.req)
      return { taskId: `t${ran.length}`, executor: other.peerId } as never
    },
  }
  const traffic = new SyntheticTraffic(
    {
      chain,
      gateway,
      shapes: new TrafficShapes(16, seededRandom(4)),
      writePrompt: async (_m, tokens) => 'word '.repeat(tokens),
      me: me.peerId,
      log: silentLogger(),
      random: () => 0.5,
      setTimer: (fn) => {
        timers.push(fn)
        return () => {}
      },
    },
    { minTasksPerEpoch: min, maxPerEpoch: 100, maxInFlight: 4, blockIntervalMs: 1000 },
  )
  /** Move to `epoch`, whose previous epoch settled `tasks` (no audit when null). */
  const next = (epoch: number, tasks: number | null): void => {
    const o = new Overlay(state)
    putEpoch(o, { ...getEpoch(o)!, number: epoch })
    if (tasks !== null)
      putAudit(o, { epoch: epoch - 1, weights: [], tasks, duties: [], skipped: [], closed: false })
    state.commit(o)
  }
  const fire = async (): Promise<void> => {
    for (const t of timers.splice(0)) t()
    await new Promise((r) => setImmediate(r))
  }
  return { traffic, ran, next, fire }
}

test('at an epoch change a validator sends its share of the shortfall through the gateway, shaped like real requests and marked synthetic only locally', async () => {
  const h = harness()
  h.traffic.start()
  assert.equal(h.traffic.check(), null, 'the epoch it started in is not planned')
  h.traffic.observe({
    req: { model: 'm', input: { prompt: 'x' }, maxTokens: 33, sampling: GREEDY, stop: ['\n'] },
    model: { id: 'm' },
    promptTokens: 12,
  } as PreparedTask)
  h.next(1, 0)
  // Weight 3 of 4: 0.75 × 8 = 6 tasks.
  const plan = h.traffic.check()!
  assert.deepEqual([plan.deficit, plan.quota, plan.share], [8, 6, 0.75])
  await h.fire()
  // All six fell due at once: four run (maxInFlight), two are skipped rather than queued.
  assert.equal(h.ran.length, 4)
  assert.equal(h.traffic.history()[0]!.skipped, 2)
  for (const r of h.ran) {
    assert.equal(r.synthetic, true)
    assert.equal(r.maxTokens, 33, 'the real shape')
    assert.deepEqual(r.stop, ['\n'])
    assert.deepEqual(r.input, { prompt: 'word '.repeat(12) })
  }
  assert.deepEqual(h.traffic.history()[0]!.sent, ['t1', 't2', 't3', 't4'])
  h.traffic.stop()
})

test('no synthetic tasks above the threshold, without an audit to count with, or when turned off', async () => {
  const h = harness()
  h.traffic.start()
  h.next(1, 20)
  assert.equal(h.traffic.check()!.quota, 0)
  h.next(2, null)
  // Epoch 1's audit (20 tasks) is still there; without one for epoch 1 nothing is known.
  h.next(3, null)
  assert.equal(h.traffic.check()!.quota, 0, 'no audit of the previous epoch')
  await h.fire()
  assert.equal(h.ran.length, 0)
  const off = harness(0)
  off.traffic.start()
  off.next(1, 0)
  assert.equal(off.traffic.check(), null)
})
