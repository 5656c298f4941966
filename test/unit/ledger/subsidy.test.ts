import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  minimumIssuance,
  ratioOf,
  scheduleTable,
  subsidyFor,
  type ScheduleParams,
} from '../../../src/ledger/economics/subsidy.js'

const COIN = 1_000_000_000n
// Appendix F: a supply of 1,000,000,000 coins, batches of 5% of it, 600 million for subsidies.
const CAP = 1_000_000_000n * COIN
const P: ScheduleParams = { batchSize: CAP / 20n, firstRatioBps: 9000, decayBps: 2000 }

// Appendix F's table: batch, subsidy ratio, fees paid by developers, total paid to hosts (coins).
const APPENDIX_F: Array<[number, string, number, number]> = [
  [1, '90.00%', 5_555_556, 55_555_556],
  [2, '72.00%', 19_444_444, 69_444_444],
  [3, '57.60%', 36_805_556, 86_805_556],
  [4, '46.08%', 58_506_944, 108_506_944],
  [5, '36.86%', 85_633_681, 135_633_681],
  [6, '29.49%', 119_542_101, 169_542_101],
  [7, '23.59%', 161_927_626, 211_927_626],
  [8, '18.87%', 214_909_532, 264_909_532],
  [9, '15.10%', 281_136_915, 331_136_915],
  [10, '12.08%', 363_921_144, 413_921_144],
  [11, '9.66%', 467_401_430, 517_401_430],
  [12, '7.73%', 596_751_788, 646_751_788],
]

/** Base units to whole coins, rounded half up, as the appendix rounds. */
const coins = (v: bigint): number => Number((v + COIN / 2n) / COIN)

test("the schedule's table for the default parameters is appendix F's, row by row", () => {
  const rows = scheduleTable(P, 600_000_000n * COIN)
  assert.equal(rows.length, 12)
  for (const [i, row] of rows.entries()) {
    const [batch, ratio, fees, paid] = APPENDIX_F[i]!
    assert.equal(row.batch + 1, batch)
    assert.equal(`${(row.ratioBps / 100).toFixed(2)}%`, ratio)
    assert.equal(row.minted, 50_000_000n * COIN)
    assert.equal(coins(row.fees), fees, `batch ${batch} fees`)
    assert.equal(coins(row.paid), paid, `batch ${batch} total paid`)
  }
})

test('a host paid fees x receives x / (1 - r) in all: x r / (1 - r) is minted, floored', () => {
  const r = ratioOf(P, 0)
  assert.deepEqual(r, { num: 9000n, den: 10_000n })
  assert.equal(subsidyFor(P, 1000n, 0n, CAP), 9000n)
  assert.equal(subsidyFor(P, 7n, 0n, CAP), 63n)
  // Batch 3 (57.6%): 1,000 fees mint 1000 · 0.576 / 0.424 = 1358.49…
  assert.equal(subsidyFor(P, 1000n, 2n * P.batchSize, CAP), 1358n)
})

test('fees that cross a batch boundary are subsidized piecewise, and nothing is minted past the room', () => {
  // 10 base units short of the end of batch 1: the first fees mint those 10 at 90%, the rest at 72%.
  const minted = P.batchSize - 10n
  const first = 2n // 2 fees at 90% mint 18 ≥ 10: ceil(10 · 0.1 / 0.9) = 2 fees finish the batch
  const rest = 1000n - first
  assert.equal(subsidyFor(P, 1000n, minted, CAP), 10n + (rest * 7200n) / 2800n)
  assert.equal(subsidyFor(P, 1000n, minted, 4n), 4n, 'the room bounds it')
  assert.equal(subsidyFor(P, 1000n, 0n, 0n), 0n)
})

test('the minimum issuance is 5% of the cap in the first year, halving yearly, scaled to the epoch', () => {
  const yearMs = 31_536_000_000
  const m = { supplyCap: CAP, minIssuanceBps: 500, yearMs }
  assert.equal(minimumIssuance(m, 1000, yearMs), 50_000_000n * COIN)
  assert.equal(minimumIssuance(m, yearMs + 1, yearMs), 25_000_000n * COIN)
  assert.equal(minimumIssuance(m, 2 * yearMs, yearMs), 12_500_000n * COIN)
  // A day of the first year: 50,000,000 / 365 = 136,986.3 coins (appendix F's daily figure).
  assert.equal(coins(minimumIssuance(m, 0, 86_400_000)), 136_986)
  assert.equal(minimumIssuance(m, 0, 0), 0n)
})
