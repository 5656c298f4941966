import { test } from 'node:test'
import assert from 'node:assert/strict'
import { receiptDigest, signReceipt, taskIdOf, type Receipt } from '../../../src/ledger/index.js'
import { encodeRequest, inputHash } from '../../../src/protocols/infer/codec.js'
import { inferRequestReader } from '../../../src/protocols/task/index.js'
import type { TaskRecordData } from '../../../src/protocols/task/codec.js'
import { checkTaskRecord, type RecordFailure, type SettledReceipt } from '../../../src/verify/index.js'
import { testSigner } from '../../helpers/chainSim.js'
import { RECORD_CHAIN, testRecord, testRequest } from '../../helpers/taskRecord.js'

const executor = testSigner(1)
const client = testSigner(2).peerId
const request = testRequest(client, 1)
const honest = testRecord(executor, request)

/** What the chain holds of a record's settlement. */
const settledOf = (r: TaskRecordData): SettledReceipt => ({
  receipt: r.receipt,
  executor: r.executor,
  sig: r.sig,
})

function failure(record: TaskRecordData, settled: SettledReceipt = settledOf(record)): RecordFailure | 'ok' {
  const c = checkTaskRecord(record, settled, RECORD_CHAIN, inferRequestReader)
  if (!c.ok) assert.ok(c.detail.length > 0)
  return c.ok ? 'ok' : c.failure
}

/** A record whose receipt, with `over` applied, is signed by `signer` over `frame`. */
function signed(frame: Uint8Array, over: Partial<Receipt>, signer = executor): TaskRecordData {
  const receipt = { ...honest.receipt, inputHash: inputHash(frame), ...over }
  return { ...honest, request: frame, receipt, sig: signReceipt(RECORD_CHAIN, signer, receipt) }
}

test('an honest record passes against its settled receipt, given whole or as its digest', () => {
  assert.equal(failure(honest), 'ok')
  assert.equal(failure(honest, { digest: receiptDigest(honest.receipt, honest.executor, honest.sig) }), 'ok')
})

test('a record that is not the settled one is caught', () => {
  const other = testRecord(executor, testRequest(client, 2))
  assert.equal(failure(other, settledOf(honest)), 'NOT_SETTLED_RECEIPT')
  assert.equal(failure(honest, { digest: new Uint8Array(32) }), 'NOT_SETTLED_RECEIPT')
  assert.equal(
    failure({ ...honest, executor: testSigner(3).peerId }, settledOf(honest)),
    'NOT_SETTLED_RECEIPT',
  )
})

test('a receipt signed by another key than the executor’s is caught', () => {
  const forged = { ...honest, sig: signReceipt(RECORD_CHAIN, testSigner(3), honest.receipt) }
  assert.equal(failure(forged), 'BAD_SIGNATURE')
  assert.equal(failure(forged, settledOf(honest)), 'NOT_SETTLED_RECEIPT')
  // Signed for another chain.
  const elsewhere = { ...honest, sig: signReceipt('other-chain', executor, honest.receipt) }
  assert.equal(failure(elsewhere), 'BAD_SIGNATURE')
})

test('an altered request byte is caught', () => {
  for (const at of [0, 5, honest.request.length - 1]) {
    const request = honest.request.slice()
    request[at] = request[at]! ^ 1
    assert.equal(failure({ ...honest, request }), 'INPUT_HASH', `byte ${at}`)
  }
})

test('an altered, added or missing token is caught', () => {
  assert.equal(failure({ ...honest, tokens: [5, 6, 7, 9] }), 'OUTPUT_HASH')
  assert.equal(failure({ ...honest, tokens: [5, 6, 7, 8, 9] }), 'OUTPUT_HASH')
  assert.equal(failure({ ...honest, tokens: [5, 6, 7] }), 'OUTPUT_HASH')
})

test('a receipt whose completion count is not the number of tokens is caught', () => {
  assert.equal(failure(signed(honest.request, { completionTokens: 5 })), 'TOKEN_COUNT')
  assert.equal(failure(signed(honest.request, { completionTokens: 0 })), 'TOKEN_COUNT')
})

test('a frame that is not a request is caught', () => {
  assert.equal(failure(signed(new Uint8Array([1, 2, 3]), {})), 'BAD_REQUEST')
  // A request of another version.
  assert.equal(failure(signed(encodeRequest(request).fill(0x01, 1, 2), {})), 'BAD_REQUEST')
})

test('a request for another task is caught', () => {
  const frame = encodeRequest({ ...request, taskId: taskIdOf(client, 99) })
  assert.equal(failure(signed(frame, {})), 'TASK_ID')
})

test('a request for another model is caught', () => {
  const frame = encodeRequest({ ...request, model: 'other@1' })
  assert.equal(failure(signed(frame, {})), 'MODEL')
})
