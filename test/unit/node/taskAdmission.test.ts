import { test } from 'node:test'
import assert from 'node:assert/strict'
import { baseRegistry, signTx, type SignedTx } from '../../../src/ledger/tx/index.js'
import { applyTx } from '../../../src/ledger/executor.js'
import { genesisState, type Genesis } from '../../../src/ledger/genesis.js'
import { Overlay, type State } from '../../../src/ledger/state/state.js'
import { getAccount } from '../../../src/ledger/state/access.js'
import { Mempool } from '../../../src/ledger/mempool.js'
import type { Signer } from '../../../src/ledger/crypto.js'
import { taskIdOf } from '../../../src/ledger/task/index.js'
import { InferRefusal } from '../../../src/protocols/index.js'
import { TaskAdmission, type TaskLedger } from '../../../src/node/infer/taskAdmission.js'
import { testGenesis, testSigner } from '../../helpers/chainSim.js'

// The executor's admission of a task (defect: `infer` served anyone): a request is served only for
// a task that is open and paid for, by the gateway that opened it, once.

const registry = baseRegistry()
const [gateway, other, executor, stranger] = [0, 1, 2, 7].map(testSigner) as [Signer, Signer, Signer, Signer]
const MODEL = 'kjv-small@0123456789abcdef'
const UNITS = 10
// Price 1, 10 units a token: an escrow of 10·n base units pays for n tokens.
const genesis: Genesis = {
  ...testGenesis([gateway, other, executor]),
  inference: { unitPrice: 1n, models: [[MODEL, UNITS]] },
}
const bounds = { minPromptTokens: 5, contextLength: 256 }

function setup(opts: { maxUnconfirmedPerGateway?: number; maxServed?: number } = {}) {
  const state = genesisState(genesis)
  const mempool = new Mempool(registry, genesis.chainId)
  const submitted: SignedTx[] = []
  const chain: TaskLedger = {
    chainId: genesis.chainId,
    registry,
    limits: { maxTxBytes: 4096 },
    replica: { state, head: { height: 1 }, mempool },
    submit: (tx) => {
      mempool.add(tx, state)
      submitted.push(tx)
    },
  }
  const admission = new TaskAdmission({ chain, clock: { now: () => 2_000_000 }, self: executor.peerId }, opts)
  return { state, mempool, submitted, admission }
}

/** A TaskOpen of `signer`, at `nonce` (default: its next in `state`, after `ahead` pending ones). */
function taskOpen(state: State, signer: Signer, maxCost: bigint, model = MODEL, ahead = 0): SignedTx {
  const nonce = getAccount(state, signer.peerId).nonce + ahead
  return signTx(registry, genesis.chainId, signer, {
    type: 'TaskOpen',
    nonce,
    fee: 1n,
    body: { model, maxCost },
  })
}

/** Put `tx` in a block: what the ledger would do once it lands. */
function commit(state: State, tx: SignedTx): void {
  const o = new Overlay(state)
  applyTx(
    o,
    tx,
    { chainId: genesis.chainId, registry },
    { height: 2, time: 2_000_000, proposer: executor.peerId },
  )
  state.commit(o)
}

function request(
  open: SignedTx,
  overrides: { maxTokens?: number; model?: string; taskId?: Uint8Array; tokenPrice?: bigint } = {},
) {
  return {
    taskId: overrides.taskId ?? taskIdOf(open.from, open.nonce),
    model: overrides.model ?? MODEL,
    maxTokens: overrides.maxTokens ?? 20,
    // The chain's: 10 units a token at price 1.
    tokenPrice: overrides.tokenPrice ?? 10n,
    open: open.bytes,
  }
}

function refused(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InferRefusal, String(err))
    assert.equal(err.code, code, err.message)
    return true
  })
}

test('a paid task not yet gossiped here is admitted, its TaskOpen taken into the mempool, and served once', () => {
  const { state, mempool, submitted, admission } = setup()
  const open = taskOpen(state, gateway, 1000n)
  const ticket = admission.admit(request(open), gateway.peerId, bounds)
  assert.equal(ticket.tokensPaid, 100)
  assert.ok(mempool.has(open.hashHex), 'the executor did not wait for gossip')
  assert.equal(submitted.length, 1)
  refused(() => admission.admit(request(open), gateway.peerId, bounds), 'TASK_REPLAYED')
  // Still a replay once the TaskOpen is in a block and the task is open on chain.
  commit(state, open)
  refused(() => admission.admit(request(open), gateway.peerId, bounds), 'TASK_REPLAYED')
})

test('a fresh identity with no balance, or a request with no TaskOpen, gets TASK_NOT_OPEN', () => {
  const { state, mempool, admission } = setup()
  const open = taskOpen(state, stranger, 1000n)
  refused(() => admission.admit(request(open), stranger.peerId, bounds), 'TASK_NOT_OPEN')
  assert.equal(mempool.size, 0, 'nothing unpaid was admitted or gossiped')
  refused(
    () => admission.admit({ ...request(open), open: new Uint8Array(0) }, stranger.peerId, bounds),
    'TASK_NOT_OPEN',
  )
  const transfer = signTx(registry, genesis.chainId, gateway, {
    type: 'Transfer',
    nonce: 0,
    fee: 1n,
    body: { to: other.peerId, amount: 1n },
  })
  refused(
    () => admission.admit({ ...request(open), open: transfer.bytes }, gateway.peerId, bounds),
    'TASK_NOT_OPEN',
  )
  // A funded client whose escrow its balance cannot cover: the TaskOpen would fail in a block.
  refused(
    () => admission.admit(request(taskOpen(state, gateway, 10n ** 12n)), gateway.peerId, bounds),
    'TASK_NOT_OPEN',
  )
})

test("another client's TaskOpen, a TaskOpen for another task or model, too low a price or too small an escrow is refused", () => {
  const { state, admission } = setup()
  const open = taskOpen(state, gateway, 1000n)
  refused(() => admission.admit(request(open), other.peerId, bounds), 'WRONG_CLIENT')
  refused(
    () => admission.admit(request(open, { taskId: new Uint8Array(32).fill(9) }), gateway.peerId, bounds),
    'TASK_NOT_OPEN',
  )
  refused(
    () => admission.admit(request(open, { model: 'other@0000000000000000' }), gateway.peerId, bounds),
    'WRONG_MODEL',
  )
  // Priced below the chain's 10 a token: the ledger would not pay for what the budget allows.
  refused(() => admission.admit(request(open, { tokenPrice: 9n }), gateway.peerId, bounds), 'PRICE_TOO_LOW')
  // An escrow of 50 pays for 5 tokens: not the prompt (at least 5) and one more.
  refused(
    () => admission.admit(request(taskOpen(state, gateway, 50n)), gateway.peerId, bounds),
    'ESCROW_TOO_LOW',
  )
  // The escrow is a gas limit (SPEC 7): more tokens asked for than it pays for is admitted, and
  // the executor stops where it runs out. 1000 pays for 100 tokens at 10, 50 at a price of 20.
  const ticket = admission.admit(request(open, { maxTokens: 500 }), gateway.peerId, bounds)
  assert.equal(ticket.tokensPaid, 100)
  assert.equal(ticket.maxCost, 1000n)
  ticket.release()
  assert.equal(admission.admit(request(open, { tokenPrice: 20n }), gateway.peerId, bounds).tokensPaid, 50)
})

test('a task refused before it ran can be admitted again; a settled one cannot', () => {
  const { state, admission } = setup()
  const open = taskOpen(state, gateway, 1000n)
  admission.admit(request(open), gateway.peerId, bounds).release()
  admission.admit(request(open), gateway.peerId, bounds)
  const second = taskOpen(state, gateway, 1000n, MODEL, 1)
  commit(state, open)
  commit(state, second)
  // Cancelled on chain: no longer open, whoever asks.
  const cancel = signTx(registry, genesis.chainId, gateway, {
    type: 'TaskCancel',
    nonce: getAccount(state, gateway.peerId).nonce,
    fee: 1n,
    body: { taskId: taskIdOf(gateway.peerId, second.nonce) },
  })
  commit(state, cancel)
  refused(() => admission.admit(request(second), gateway.peerId, bounds), 'TASK_NOT_OPEN')
})

test('a gateway has a bounded number of unconfirmed tasks here, whose escrows must fit its balance together', () => {
  const { state, admission } = setup({ maxUnconfirmedPerGateway: 2 })
  const opens = [0, 1, 2].map((i) => taskOpen(state, gateway, 1000n, MODEL, i))
  admission.admit(request(opens[0]!), gateway.peerId, bounds)
  admission.admit(request(opens[1]!), gateway.peerId, bounds)
  refused(() => admission.admit(request(opens[2]!), gateway.peerId, bounds), 'UNCONFIRMED_LIMIT')
  // Once its TaskOpens are in a block, the gateway may open more.
  commit(state, opens[0]!)
  commit(state, opens[1]!)
  admission.admit(request(opens[2]!), gateway.peerId, bounds)

  // Two escrows that each fit the balance but not together: the second is refused.
  const balance = getAccount(state, other.peerId).balance
  const half = balance / 2n + 1n
  const a = taskOpen(state, other, half)
  const b = taskOpen(state, other, half, MODEL, 1)
  admission.admit(request(a), other.peerId, bounds)
  refused(() => admission.admit(request(b), other.peerId, bounds), 'ESCROW_UNFUNDED')
})

test("the executor's own gateway is not held to the unconfirmed limit", () => {
  const { state, admission } = setup({ maxUnconfirmedPerGateway: 1 })
  for (let i = 0; i < 3; i++)
    admission.admit(request(taskOpen(state, executor, 1000n, MODEL, i)), executor.peerId, bounds)
})

test('replay memory is bounded: settled tasks are forgotten first, open ones never', () => {
  const { state, admission } = setup({ maxServed: 2 })
  const opens = [0, 1, 2].map((i) => taskOpen(state, gateway, 1000n, MODEL, i))
  admission.admit(request(opens[0]!), gateway.peerId, bounds)
  admission.admit(request(opens[1]!), gateway.peerId, bounds)
  refused(() => admission.admit(request(opens[2]!), gateway.peerId, bounds), 'BUSY')
  for (const o of opens) commit(state, o)
  const cancel = signTx(registry, genesis.chainId, gateway, {
    type: 'TaskCancel',
    nonce: getAccount(state, gateway.peerId).nonce,
    fee: 1n,
    body: { taskId: taskIdOf(gateway.peerId, opens[0]!.nonce) },
  })
  commit(state, cancel)
  admission.admit(request(opens[2]!), gateway.peerId, bounds)
  assert.equal(admission.size, 2)
  // The forgotten task still cannot be served again: it is no longer open.
  refused(() => admission.admit(request(opens[0]!), gateway.peerId, bounds), 'TASK_NOT_OPEN')
  refused(() => admission.admit(request(opens[1]!), gateway.peerId, bounds), 'TASK_REPLAYED')
})
