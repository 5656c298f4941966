import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ValidatorSet } from '../../../src/ledger/consensus/validatorSet.js'
import { testSigner } from '../../helpers/chainSim.js'

const ids = [0, 1, 2, 3].map((i) => testSigner(i).peerId)
const set = (powers: number[]): ValidatorSet =>
  new ValidatorSet(
    powers.map((power, i) => ({ id: ids[i]!, power, jailedUntil: 0 })),
    1,
  )

test('quorum is strictly more than 2/3 of the power', () => {
  const s = set([1, 1, 1]) // total 3
  assert.equal(s.isQuorum(2), false, 'exactly 2/3 is not a quorum')
  assert.equal(s.isQuorum(3), true)
  const t = set([10, 10, 10, 30]) // total 60: 2/3 = 40
  assert.equal(t.isQuorum(40), false)
  assert.equal(t.isQuorum(41), true)
  assert.equal(t.isOneThird(20), false, 'exactly 1/3 is not more than 1/3')
  assert.equal(t.isOneThird(21), true)
  const four = set([1, 1, 1, 1])
  assert.equal(four.isQuorum(3), true, '3 of 4 equal validators are a quorum')
  assert.equal(four.isQuorum(2), false)
})

test('jailed validators and those without power are not in the set', () => {
  const s = new ValidatorSet(
    [
      { id: ids[0]!, power: 5, jailedUntil: 10 },
      { id: ids[1]!, power: 0, jailedUntil: 0 },
      { id: ids[2]!, power: 3, jailedUntil: 0 },
    ],
    10,
  )
  assert.equal(s.total, 3)
  assert.equal(s.has(ids[0]!), false, 'jailed until height 10 inclusive')
  assert.equal(new ValidatorSet([{ id: ids[0]!, power: 5, jailedUntil: 10 }], 11).total, 5, 'free at 11')
})

test('the proposer is deterministic and drawn in proportion to power', () => {
  const powers = [1, 2, 3, 4]
  const s = set(powers)
  const seed = new Uint8Array(32).fill(1)
  assert.equal(s.proposer(seed, 7, 2), s.proposer(seed, 7, 2))
  const counts = new Map<string, number>()
  const n = 20_000
  for (let h = 1; h <= n; h++) {
    const p = s.proposer(seed, h, 0)
    counts.set(p, (counts.get(p) ?? 0) + 1)
  }
  for (const [i, power] of powers.entries()) {
    const expected = (n * power) / 10
    const sd = Math.sqrt(n * (power / 10) * (1 - power / 10))
    const got = counts.get(ids[i]!) ?? 0
    assert.ok(Math.abs(got - expected) < 5 * sd, `validator ${i}: ${got} draws, expected about ${expected}`)
  }
  assert.notEqual(
    s.proposer(seed, 1, 0) + s.proposer(seed, 2, 0) + s.proposer(seed, 3, 0),
    '',
    'varies by height',
  )
})
