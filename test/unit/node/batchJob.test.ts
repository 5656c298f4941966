import { test } from 'node:test'
import assert from 'node:assert/strict'
import { newJob, step, countAudit, BatchError, type BatchJob } from '../../../src/node/batch/index.js'

const job = (total = 3): BatchJob =>
  newJob({
    id: 'batch_1',
    endpoint: '/v1/completions',
    inputFileId: 'file-1',
    metadata: null,
    total,
    now: 100,
  })

function refused(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof BatchError)
    assert.equal(err.code, 'BAD_STATE')
    return err.message
  }
  assert.fail('expected BAD_STATE')
}

test('a batch goes validating → in_progress → finalizing → completed, counting each line', () => {
  let j = job(2)
  assert.equal(j.status, 'validating')
  assert.equal(j.expiresAt, 100 + 24 * 3600)
  j = step(j, { type: 'validated' }, 101)
  assert.equal(j.status, 'in_progress')
  assert.equal(j.inProgressAt, 101)
  refused(() => step(j, { type: 'finalize' }, 102))
  j = step(j, { type: 'line', ok: true }, 102)
  j = step(j, { type: 'line', ok: false }, 103)
  assert.deepEqual(j.counts, { total: 2, completed: 1, failed: 1 })
  refused(() => step(j, { type: 'line', ok: true }, 103))
  j = step(j, { type: 'finalize' }, 104)
  assert.equal(j.status, 'finalizing')
  j = step(j, { type: 'complete', outputFileId: 'file-o', errorFileId: 'file-e' }, 105)
  assert.equal(j.status, 'completed')
  assert.equal(j.completedAt, 105)
  assert.equal(j.outputFileId, 'file-o')
  assert.equal(j.errorFileId, 'file-e')
})

test('a batch whose file does not fit it fails with its problems', () => {
  const problems = [{ code: 'model_not_found', message: 'line 2: no model x', line: 2 }]
  const j = step(job(), { type: 'invalid', errors: problems }, 101)
  assert.equal(j.status, 'failed')
  assert.equal(j.failedAt, 101)
  assert.deepEqual(j.errors, problems)
  refused(() => step(j, { type: 'validated' }, 102))
  assert.match(
    refused(() => step(j, { type: 'cancel' }, 102)),
    /failed cannot be cancelled/,
  )
})

test('cancel: lines in flight are still counted while cancelling; a second cancel changes nothing', () => {
  let j = step(job(3), { type: 'validated' }, 101)
  j = step(j, { type: 'line', ok: true }, 102)
  j = step(j, { type: 'cancel' }, 103)
  assert.equal(j.status, 'cancelling')
  assert.equal(j.cancellingAt, 103)
  assert.equal(step(j, { type: 'cancel' }, 104), j, 'cancelling again is no error and no change')
  j = step(j, { type: 'line', ok: true }, 104)
  refused(() => step(j, { type: 'finalize' }, 105))
  j = step(j, { type: 'cancelled', outputFileId: 'file-o', errorFileId: null }, 105)
  assert.equal(j.status, 'cancelled')
  assert.deepEqual(j.counts, { total: 3, completed: 2, failed: 0 })
  assert.equal(step(j, { type: 'cancel' }, 106), j)
})

test('a completed batch cannot be cancelled', () => {
  let j = step(job(1), { type: 'validated' }, 101)
  j = step(j, { type: 'line', ok: true }, 102)
  j = step(j, { type: 'finalize' }, 103)
  assert.match(
    refused(() => step(j, { type: 'cancel' }, 103)),
    /finalizing cannot be cancelled/,
  )
  j = step(j, { type: 'complete', outputFileId: 'file-o', errorFileId: null }, 104)
  assert.match(
    refused(() => step(j, { type: 'cancel' }, 105)),
    /completed cannot be cancelled/,
  )
})

test('an expired batch counts the lines it never ran as failed', () => {
  let j = step(job(4), { type: 'validated' }, 101)
  j = step(j, { type: 'line', ok: true }, 102)
  refused(() => step(j, { type: 'expire', unrun: 4, outputFileId: null, errorFileId: null }, 103))
  j = step(j, { type: 'expire', unrun: 3, outputFileId: 'file-o', errorFileId: 'file-e' }, 103)
  assert.equal(j.status, 'expired')
  assert.deepEqual(j.counts, { total: 4, completed: 1, failed: 3 })
})

test('the audit counts tasks by verification and by chain status', () => {
  const a = countAudit([
    { verification: 'pending', status: undefined },
    { verification: 'pending', status: 'disputed' },
    { verification: 'verified', status: 'verified' },
    { verification: 'fraud', status: 'fraud' },
  ])
  assert.equal(a.tasks, 4)
  assert.deepEqual(a.verification, { pending: 2, verified: 1, fraud: 1, unchecked: 0, unknown: 0 })
  assert.equal(a.chain.disputed, 1)
  assert.equal(a.chain.fraud, 1)
  assert.equal(a.chain.open, 0)
})
