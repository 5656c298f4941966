import { test } from 'node:test'
import assert from 'node:assert/strict'
import { taggedHash, u64 } from '../../../src/ledger/crypto.js'
import {
  NonceTree,
  verifySample,
  MAX_PATH_ELEMENTS,
  PATH_ELEMENT_BYTES,
  type NonceSample,
} from '../../../src/race/index.js'
import { xorshift } from '../../helpers/rng.js'

const rng = xorshift

/** `count` strictly increasing nonces with random gaps, some near 2^53. */
function sortedNonces(count: number, seed: number, start = 0): number[] {
  const r = rng(seed)
  const out: number[] = []
  let n = start
  for (let i = 0; i < count; i++) {
    n += 1 + Math.floor(r() * 1000)
    out.push(n)
  }
  return out
}

// An independent reading of the format in src/race/merkle.ts, with taggedHash itself: it checks
// the bytes the doc comment promises, and lets a test commit to trees with arbitrary (lying)
// intervals, as a cheating prover could.
interface Triple {
  h: Uint8Array
  min: number
  max: number
}

function leaf(i: number, n: number): Triple {
  return { h: taggedHash('cordex/race/nonces/leaf', u64(i), u64(n)), min: n, max: n }
}

function node(l: Triple, r: Triple, lie?: { min: number; max: number }): Triple {
  const h = taggedHash('cordex/race/nonces/node', l.h, u64(l.min), u64(l.max), r.h, u64(r.min), u64(r.max))
  return { h, min: lie?.min ?? l.min, max: lie?.max ?? r.max }
}

/** Every level of the tree over `nonces`; `lie` may replace any internal node's interval. */
function levelsOf(nonces: number[], lie?: () => { min: number; max: number } | undefined): Triple[][] {
  const levels = [nonces.map((n, i) => leaf(i, n))]
  while (levels[levels.length - 1]!.length > 1) {
    const below = levels[levels.length - 1]!
    const up: Triple[] = []
    for (let k = 0; 2 * k < below.length; k++) {
      const l = below[2 * k]!
      const r = below[2 * k + 1]
      up.push(r === undefined ? l : node(l, r, lie?.()))
    }
    levels.push(up)
  }
  return levels
}

function rootOf(count: number, levels: Triple[][]): Uint8Array {
  const top = levels[levels.length - 1]![0]!
  return taggedHash('cordex/race/nonces/root', u64(count), top.h, u64(top.min), u64(top.max))
}

function openingOf(levels: Triple[][], nonces: number[], index: number): NonceSample {
  const path: Uint8Array[] = []
  let pos = index
  for (let l = 0; l < levels.length - 1; l++) {
    const sib = levels[l]![pos % 2 === 0 ? pos + 1 : pos - 1]
    if (sib !== undefined) {
      const e = new Uint8Array(PATH_ELEMENT_BYTES)
      e.set(sib.h)
      e.set(u64(sib.min), 32)
      e.set(u64(sib.max), 40)
      path.push(e)
    }
    pos = Math.floor(pos / 2)
  }
  return { index, nonce: nonces[index]!, path }
}

const BIG = sortedNonces(100_000, 7)
const bigTree = new NonceTree(BIG)

test('the root is the documented hash of the tree; every position opens and verifies', () => {
  for (const count of [1, 2, 3, 4, 5, 6, 7, 8, 9, 31, 33, 1000]) {
    const nonces = sortedNonces(count, count)
    const tree = new NonceTree(nonces)
    assert.equal(tree.count, count)
    assert.deepEqual(tree.root, rootOf(count, levelsOf(nonces)), `root of ${count}`)
    for (let i = 0; i < count; i++) {
      const s = tree.sample(i)
      assert.equal(s.nonce, nonces[i])
      assert.ok(verifySample(tree.root, count, s), `position ${i} of ${count}`)
      assert.ok(s.path.length <= Math.ceil(Math.log2(count)))
    }
  }
})

test('100,000 nonces: random positions, the ends and nonces near 2^53 open and verify', () => {
  const r = rng(11)
  for (let k = 0; k < 1000; k++) {
    const i = Math.floor(r() * BIG.length)
    assert.ok(verifySample(bigTree.root, BIG.length, bigTree.sample(i)), `position ${i}`)
  }
  for (const i of [0, 1, BIG.length - 2, BIG.length - 1])
    assert.ok(verifySample(bigTree.root, BIG.length, bigTree.sample(i)))
  const high = sortedNonces(5, 3, Number.MAX_SAFE_INTEGER - 10_000)
  const t = new NonceTree(high)
  for (let i = 0; i < high.length; i++) assert.ok(verifySample(t.root, 5, t.sample(i)))
})

const openingBytes = 8 + 8 + bigTree.sample(12_345).path.length * PATH_ELEMENT_BYTES
test(`an opening of one of 100,000 nonces is 17 path elements, ${openingBytes} bytes with index and nonce`, () => {
  for (const i of [0, 12_345, 65_535, 99_999]) {
    const s = bigTree.sample(i)
    assert.ok(s.path.length <= 17, `${s.path.length} elements`)
    for (const e of s.path) assert.equal(e.length, PATH_ELEMENT_BYTES)
  }
  assert.ok(openingBytes <= 17 * 48 + 16)
})

test('a tampered nonce, index, path element, root or count is rejected', () => {
  const nonces = sortedNonces(1000, 5)
  const tree = new NonceTree(nonces)
  const { root, count } = tree
  for (const i of [0, 1, 2, 500, 511, 512, 998, 999]) {
    const s = tree.sample(i)
    assert.ok(verifySample(root, count, s))
    // The nonce: its neighbours' values, off by one, out of range.
    for (const nonce of [s.nonce + 1, s.nonce - 1, nonces[i + 1] ?? 0, nonces[i - 1] ?? 0, -1, 0.5, 2 ** 53])
      assert.ok(!verifySample(root, count, { ...s, nonce }), `nonce ${nonce} at ${i}`)
    // The index, with the path of another position or its own.
    for (const index of [i + 1, i - 1, i ^ 1, count, -1, 1.5])
      assert.ok(!verifySample(root, count, { ...s, index }), `index ${index} for ${i}`)
    // Every byte of every path element: the hash and both bounds of the interval.
    for (let p = 0; p < s.path.length; p++) {
      for (const byte of [0, 31, 32, 39, 40, 47]) {
        const path = s.path.map((e) => e.slice())
        path[p]![byte]! ^= 1
        assert.ok(!verifySample(root, count, { ...s, path }), `element ${p} byte ${byte} at ${i}`)
      }
    }
    // Missing, extra, reordered, short or long elements.
    assert.ok(!verifySample(root, count, { ...s, path: s.path.slice(1) }))
    assert.ok(!verifySample(root, count, { ...s, path: s.path.slice(0, -1) }))
    assert.ok(!verifySample(root, count, { ...s, path: [...s.path, s.path[0]!] }))
    assert.ok(!verifySample(root, count, { ...s, path: [...s.path].reverse() }))
    assert.ok(!verifySample(root, count, { ...s, path: [s.path[0]!.subarray(0, 47), ...s.path.slice(1)] }))
    assert.ok(!verifySample(root, count, { ...s, path: [new Uint8Array(49), ...s.path.slice(1)] }))
    // Another root or count.
    const other = root.slice()
    other[0]! ^= 1
    assert.ok(!verifySample(other, count, s))
    assert.ok(!verifySample(root.subarray(0, 31), count, s))
    for (const c of [count - 1, count + 1, 2 * count, 0, -1])
      assert.ok(!verifySample(root, c, s), `count ${c} for ${i}`)
  }
  // The root of another list of the same length, and the same list one shorter.
  assert.ok(!verifySample(new NonceTree(sortedNonces(1000, 6)).root, 1000, tree.sample(3)))
  assert.ok(!verifySample(new NonceTree(nonces.slice(0, 999)).root, 1000, tree.sample(3)))
  assert.ok(!verifySample(new NonceTree(nonces.slice(0, 999)).root, 999, tree.sample(3)))
})

test('a prover builds only from strictly increasing non-negative integers below 2^53', () => {
  for (const bad of [[], [1, 1], [2, 1], [0, 5, 5, 6], [-1, 2], [0.5], [2 ** 53], [Number.NaN]])
    assert.throws(() => new NonceTree(bad), RangeError, JSON.stringify(bad))
  assert.throws(() => bigTree.sample(BIG.length), RangeError)
  assert.throws(() => bigTree.sample(-1), RangeError)
})

test('duplicates and out-of-order neighbours fail where they are opened', () => {
  // The list repeated whole descends once: a check of only the next nonce would pass 15 of 16
  // positions. The intervals fail every position under the node where the two copies meet.
  const list = [1, 2, 3, 4, 5, 6, 7, 8]
  const twice = NonceTree.unchecked([...list, ...list])
  for (let i = 0; i < 16; i++) assert.ok(!verifySample(twice.root, 16, twice.sample(i)), `position ${i}`)
  // One duplicate: the two positions under the pair's node fail, the rest pass.
  const dup = NonceTree.unchecked([1, 2, 3, 3, 4, 5, 6, 7])
  const passing = [...Array(8).keys()].filter((i) => verifySample(dup.root, 8, dup.sample(i)))
  assert.deepEqual(passing, [0, 1, 4, 5, 6, 7])
  const swapped = NonceTree.unchecked([1, 2, 4, 3, 5])
  assert.ok(!verifySample(swapped.root, 5, swapped.sample(2)))
  assert.ok(!verifySample(swapped.root, 5, swapped.sample(3)))
})

test('whatever intervals a prover commits to, the positions that verify hold strictly increasing nonces', () => {
  // The property that makes a duplicate count as an invalid nonce: good positions are distinct.
  const r = rng(99)
  let cheats = 0
  for (let trial = 0; trial < 400; trial++) {
    const count = 2 + Math.floor(r() * 40)
    const span = 1 + Math.floor(r() * 2 * count)
    const nonces = Array.from({ length: count }, () => Math.floor(r() * span))
    if (trial % 4 === 0) nonces.sort((a, b) => a - b)
    const lieRate = r() * 0.5
    const levels = levelsOf(nonces, () => {
      if (r() >= lieRate) return undefined
      const a = Math.floor(r() * (span + 2))
      const b = Math.floor(r() * (span + 2))
      return { min: Math.min(a, b), max: Math.max(a, b) }
    })
    const root = rootOf(count, levels)
    const good = [...Array(count).keys()].filter((i) =>
      verifySample(root, count, openingOf(levels, nonces, i)),
    )
    for (let k = 1; k < good.length; k++)
      assert.ok(nonces[good[k]!]! > nonces[good[k - 1]!]!, `trial ${trial}: ${nonces} passing ${good}`)
    if (good.length < count) cheats++
  }
  assert.ok(cheats > 100)
})

test('path elements are bounded', () => {
  assert.ok(MAX_PATH_ELEMENTS >= 53)
  const s = bigTree.sample(0)
  const long = { ...s, path: Array.from({ length: MAX_PATH_ELEMENTS + 1 }, () => s.path[0]!) }
  assert.ok(!verifySample(bigTree.root, BIG.length, long))
})
