import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Overlay } from '../../../../src/ledger/state/state.js'
import { putAudit, type CheckStatus, type CheckedTask } from '../../../../src/ledger/verify/index.js'
import {
  chainTaskView,
  isFinal,
  taskVerification,
  verificationOf,
  type TaskFacts,
} from '../../../../src/node/api/views/taskView.js'

test('each chain status maps to the verification a user is told', () => {
  const expected: Record<CheckStatus, string> = {
    open: 'pending',
    disputed: 'pending',
    verified: 'verified',
    cleared: 'verified',
    fraud: 'fraud',
    unchecked: 'unchecked',
    unproven: 'unchecked',
  }
  for (const [status, v] of Object.entries(expected))
    assert.equal(verificationOf(status as CheckStatus), v, status)
  assert.deepEqual(
    (Object.keys(expected) as CheckStatus[]).filter((s) => !isFinal(s)),
    ['open', 'disputed'],
  )
})

const facts = (f: Partial<TaskFacts>): TaskFacts => ({
  status: undefined,
  verifying: true,
  recorded: true,
  saved: undefined,
  recordEpoch: 10,
  epoch: 10,
  disputeEpochs: 2,
  ...f,
})

test('a task unknown to the chain and the gateway has no verification (the route answers 404)', () => {
  assert.equal(taskVerification(facts({ recorded: false })), undefined)
  assert.equal(taskVerification(facts({ recorded: false, verifying: false })), undefined)
})

test("the chain's status wins over what the gateway saved", () => {
  assert.equal(taskVerification(facts({ status: 'fraud', saved: 'verified' })), 'fraud')
  assert.equal(taskVerification(facts({ status: 'open', recorded: false })), 'pending')
})

test('without a chain record: unchecked on a chain that checks nothing, else the saved verdict', () => {
  assert.equal(taskVerification(facts({ verifying: false })), 'unchecked')
  assert.equal(taskVerification(facts({ saved: 'fraud', epoch: 100 })), 'fraud')
})

test('a gateway record the chain cannot have dropped yet is settling; past that it was dropped unseen', () => {
  // Settled in epoch 10: its record stays until audit 12 closes, at the end of epoch 13; a
  // receipt may land an epoch late.
  assert.equal(taskVerification(facts({ epoch: 10 })), 'pending')
  assert.equal(taskVerification(facts({ epoch: 14 })), 'pending')
  assert.equal(taskVerification(facts({ epoch: 15 })), 'unknown')
  assert.equal(taskVerification(facts({ recordEpoch: undefined })), 'unknown')
})

test('the chain view gives amounts as strings, whether it was reported, and whether its audit closed', () => {
  const s = new Overlay({ get: () => undefined })
  const task: CheckedTask = {
    epoch: 3,
    executor: 'exec',
    client: 'me',
    model: 'm@0',
    fee: 120n,
    rateBps: 10_000,
    others: 4,
    receipt: new Uint8Array(32).fill(0xab),
    height: 40,
    status: 'fraud',
    votes: [
      {
        verifier: 'v1',
        ok: false,
        reason: 'token',
        position: 5,
        expected: 17,
        actual: 42,
        escalation: false,
      },
    ],
    reportDeposit: 50n,
    parked: false,
    penalty: { refunded: 120n, forfeited: 300n, slashed: 1000n, bounty: 60n, reporterReward: 30n },
  }
  assert.equal(chainTaskView(s, task).auditClosed, true, 'an audit no longer in state closed long ago')
  putAudit(s, { epoch: 3, weights: [], tasks: 1, duties: [], skipped: [], closed: false })
  const v = chainTaskView(s, task)
  assert.deepEqual(v, {
    status: 'fraud',
    epoch: 3,
    height: 40,
    executor: 'exec',
    client: 'me',
    model: 'm@0',
    fee: '120',
    rateBps: 10_000,
    receipt: 'ab'.repeat(32),
    votes: [
      {
        verifier: 'v1',
        ok: false,
        reason: 'token',
        position: 5,
        expected: 17,
        actual: 42,
        escalation: false,
      },
    ],
    penalty: { refunded: '120', forfeited: '300', slashed: '1000', bounty: '60', reporterReward: '30' },
    reported: true,
    reportDeposit: '50',
    auditClosed: false,
  })
  assert.doesNotThrow(() => JSON.stringify(v))
})
