import { test } from 'node:test'
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import type { Socket } from 'node:net'
import { ConnectionSlots } from '../../../../src/node/api/connections.js'

/** Just what ConnectionSlots uses of a socket. */
class FakeSocket extends EventEmitter {
  destroyed = false
  bytesRead = 0
  constructor(readonly name: string) {
    super()
  }
  destroy(): void {
    if (this.destroyed) return
    this.destroyed = true
    this.emit('close')
  }
}

function setup(max: number, overflow: number) {
  let now = 0
  const slots = new ConnectionSlots({
    max,
    overflow,
    firstByteTimeoutMs: 60_000,
    graceMs: 100,
    now: () => now,
  })
  const open = (name: string): FakeSocket => {
    const s = new FakeSocket(name)
    slots.add(s as unknown as Socket)
    return s
  }
  const begin = (s: FakeSocket): boolean => slots.begin(s as unknown as Socket)
  const end = (s: FakeSocket): void => slots.end(s as unknown as Socket)
  return { open, begin, end, advance: (ms: number) => (now += ms) }
}

test('over the cap, the connection idle longest makes room once it has had time to send', () => {
  const { open, begin, end, advance } = setup(2, 2)
  const a = open('a')
  const b = open('b')
  assert.ok(begin(b))
  end(b)
  advance(50)
  // Both idle, neither past the grace: the newcomer is held beyond the cap.
  const c = open('c')
  assert.ok(!a.destroyed && !b.destroyed && !c.destroyed)
  advance(100)
  const d = open('d')
  assert.ok(a.destroyed, 'a, idle since it opened, goes first')
  assert.ok(!b.destroyed && !c.destroyed && !d.destroyed)
})

test('past the overflow, the connection idle longest goes, however young', () => {
  const { open, begin, advance } = setup(1, 1)
  const a = open('a')
  const b = open('b')
  const c = open('c')
  assert.ok(a.destroyed, 'no room beyond max + overflow: the oldest idle one is closed')
  assert.ok(begin(b))
  advance(1000)
  assert.ok(!begin(c), 'one request in progress is the cap')
  const d = open('d')
  assert.ok(c.destroyed, 'c is idle (its request was refused), so it makes room')
  assert.ok(!b.destroyed && !d.destroyed)
})

test('with every connection busy and no room left, a newcomer is closed at once', () => {
  const { open, begin } = setup(2, 0)
  const [a, b] = [open('a'), open('b')]
  assert.ok(begin(a) && begin(b))
  const c = open('c')
  assert.ok(c.destroyed)
  assert.ok(!a.destroyed && !b.destroyed)
})

test('requests beyond the cap are refused until one ends; pipelined requests count once', () => {
  const { open, begin, end } = setup(2, 4)
  const [a, b, c] = [open('a'), open('b'), open('c')]
  assert.ok(begin(a))
  assert.ok(begin(a), 'a second request on a busy connection takes no new slot')
  assert.ok(begin(b))
  assert.ok(!begin(c))
  end(a)
  assert.ok(!begin(c), 'a still has a request in progress')
  end(a)
  assert.ok(begin(c))
  b.destroy()
  const d = open('d')
  assert.ok(begin(d), 'a closed busy connection frees its slot')
})
