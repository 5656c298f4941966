import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Backoff } from '../../../src/node/backoff.js'

test('backoff doubles from min to max per failure and resets on success', () => {
  let now = 1_000
  const b = new Backoff({ now: () => now }, 100, 1000)
  assert.ok(b.ready('p'))
  assert.equal(b.fail('p'), 100)
  assert.ok(!b.ready('p'))
  now += 99
  assert.ok(!b.ready('p'))
  now += 1
  assert.ok(b.ready('p'))
  assert.deepEqual(
    [b.fail('p'), b.fail('p'), b.fail('p'), b.fail('p'), b.fail('p')],
    [200, 400, 800, 1000, 1000],
  )
  assert.ok(b.ready('q'), 'keys are independent')
  b.succeed('p')
  assert.ok(b.ready('p'))
  assert.equal(b.fail('p'), 100, 'a success resets the count')
})

test('backoff never overflows after many failures', () => {
  const b = new Backoff({ now: () => 0 }, 250, 5000)
  let wait = 0
  for (let i = 0; i < 5000; i++) wait = b.fail('p')
  assert.equal(wait, 5000)
})
