import { test } from 'node:test'
import assert from 'node:assert/strict'
import { TaskGate, TaskGateError } from '../../../src/node/infer/taskGate.js'

/** A gate on a fake clock whose timers fire when `advance` passes them. */
function harness(opts = { maxWaiting: 3, maxWaitMs: 10_000 }) {
  let now = 0
  const timers = new Set<{ at: number; fn: () => void }>()
  const gate = new TaskGate(
    {
      clock: { now: () => now },
      setTimer: (fn, ms) => {
        const t = { at: now + ms, fn }
        timers.add(t)
        return () => timers.delete(t)
      },
    },
    opts,
  )
  const advance = async (ms: number): Promise<void> => {
    const until = now + ms
    for (;;) {
      const next = [...timers].filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0]
      if (next === undefined) break
      timers.delete(next)
      now = next.at
      next.fn()
      await Promise.resolve()
    }
    now = until
    await Promise.resolve()
  }
  return { gate, advance }
}

const settled = async <T>(p: Promise<T>): Promise<'waiting' | 'in' | string> => {
  const r = await Promise.race([
    p.then(
      () => 'in',
      (e: unknown) => (e instanceof TaskGateError ? e.code : 'other'),
    ),
    new Promise<string>((r) => setImmediate(() => r('waiting'))),
  ])
  return r
}

test('tasks start only while the executors have stream slots; the next starts when one ends', async () => {
  const { gate } = harness()
  const cap = { running: 2, perSecond: 100 }
  const a = await gate.enter(cap)
  await gate.enter(cap)
  const c = gate.enter(cap)
  assert.equal(await settled(c), 'waiting')
  a()
  a() // leaving twice frees one slot only
  assert.equal(await settled(c), 'in')
  assert.equal(await settled(gate.enter(cap)), 'waiting')
  assert.deepEqual(gate.load, { running: 2, waiting: 1 })
})

test('tasks start no faster than the executors take requests, and in order', async () => {
  const { gate, advance } = harness({ maxWaiting: 10, maxWaitMs: 10_000 })
  const cap = { running: 100, perSecond: 2 }
  const order: number[] = []
  const all = [0, 1, 2, 3, 4].map((i) => gate.enter(cap).then(() => order.push(i)))
  await advance(0)
  assert.deepEqual(order, [0, 1], 'a burst of one second')
  await advance(499)
  assert.deepEqual(order, [0, 1])
  await advance(1)
  assert.deepEqual(order, [0, 1, 2])
  await advance(1000)
  await Promise.all(all)
  assert.deepEqual(order, [0, 1, 2, 3, 4])
})

test('a request refused by the gate never starts: too many waiting, waited too long, or its client left', async () => {
  const { gate, advance } = harness()
  const cap = { running: 1, perSecond: 100 }
  const first = await gate.enter(cap)
  const waiting = [gate.enter(cap), gate.enter(cap)]
  const leaving = new AbortController()
  const left = gate.enter(cap, leaving.signal)
  assert.equal(await settled(gate.enter(cap)), 'FULL')
  leaving.abort()
  assert.equal(await settled(left), 'ABORTED')
  await advance(9_999)
  assert.equal(await settled(waiting[0]!), 'waiting')
  await advance(1)
  for (const w of waiting) assert.equal(await settled(w), 'TIMEOUT')
  first()
  assert.deepEqual(gate.load, { running: 0, waiting: 0 })
})
