import { test } from 'node:test'
import assert from 'node:assert/strict'
import { StateMerkle } from '../../../src/ledger/state/merkle.js'
import { toHex } from '../../../src/ledger/crypto.js'

function rng(seed: number): () => number {
  let x = seed
  return () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
}

test('the incremental root equals the root rebuilt from scratch, and preview equals update', () => {
  const rand = rng(42)
  const live = new Map<string, Uint8Array>()
  const m = new StateMerkle()
  for (let round = 0; round < 50; round++) {
    const changes: Array<[string, Uint8Array | null]> = []
    for (let i = 0; i < 40; i++) {
      const key = `acct:${Math.floor(rand() * 300)}`
      if (rand() < 0.2) {
        changes.push([key, null])
        live.delete(key)
      } else {
        const v = Uint8Array.of(Math.floor(rand() * 256), round)
        changes.push([key, v])
        live.set(key, v)
      }
    }
    const previewed = toHex(m.preview(changes))
    assert.equal(toHex(m.update(changes)), previewed)
  }
  const fresh = new StateMerkle()
  fresh.update([...live].reverse())
  assert.equal(toHex(m.root), toHex(fresh.root), 'order of history does not matter')
})

test('any change to any entry changes the root', () => {
  const m = new StateMerkle()
  m.update([
    ['a', Uint8Array.of(1)],
    ['b', Uint8Array.of(2)],
  ])
  const r = toHex(m.root)
  assert.notEqual(toHex(m.preview([['a', Uint8Array.of(9)]])), r)
  assert.notEqual(toHex(m.preview([['c', Uint8Array.of(1)]])), r)
  assert.notEqual(toHex(m.preview([['b', null]])), r)
  assert.equal(toHex(m.preview([['a', Uint8Array.of(1)]])), r, 'rewriting the same value changes nothing')
})
