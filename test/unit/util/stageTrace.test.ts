import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { traceStage } from '../../../src/util/stageTrace.js'

/** A pino logger at `level` whose lines are collected, parsed. */
function collecting(level: string): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const log = pino({ level }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) })
  return { log, lines }
}

test('a task stage is logged at level trace only, with the task id in hex and a microsecond clock', () => {
  const quiet = collecting('debug')
  traceStage(quiet.log, Uint8Array.of(1, 2, 255), 'executor: admitted')
  assert.deepEqual(quiet.lines, [], 'nothing at debug')

  const { log, lines } = collecting('trace')
  const before = performance.timeOrigin + performance.now()
  traceStage(log, Uint8Array.of(1, 2, 255), 'executor: admitted')
  traceStage(log, 'abcd', 'gateway: escrowed')
  const after = performance.timeOrigin + performance.now()
  assert.equal(lines.length, 2)
  assert.deepEqual(
    lines.map((l) => [l.msg, l.task, l.stage]),
    [
      ['task stage', '0102ff', 'executor: admitted'],
      ['task stage', 'abcd', 'gateway: escrowed'],
    ],
  )
  const at = lines.map((l) => l.at as number)
  assert.ok(
    before <= at[0]! && at[0]! <= at[1]! && at[1]! <= after,
    `${before} ≤ ${at.join(' ≤ ')} ≤ ${after}`,
  )
})
