import { test } from 'node:test'
import assert from 'node:assert/strict'
import { baseRegistry, signTx, type SignedTx } from '../../../src/ledger/tx/index.js'
import { applyTx } from '../../../src/ledger/executor.js'
import { genesisState, type Genesis } from '../../../src/ledger/genesis.js'
import { Overlay, type State } from '../../../src/ledger/state/state.js'
import { getAccount, getValidatorEntries, putValidatorEntries } from '../../../src/ledger/state/access.js'
import { TxRejectedError } from '../../../src/ledger/errors.js'
import { toHex, type Signer } from '../../../src/ledger/crypto.js'
import {
  executorOrder,
  getTask,
  outputHash,
  routeCandidates,
  signReceipt,
  taskFee,
  taskIdOf,
  tokenBudget,
  type Receipt,
} from '../../../src/ledger/task/index.js'
import { heldOf } from '../../../src/ledger/verify/index.js'
import { testGenesis, testSigner } from '../../helpers/chainSim.js'

const registry = baseRegistry()
const [client, host, other, idle] = [0, 1, 2, 3].map(testSigner) as [Signer, Signer, Signer, Signer]
const MODEL = 'kjv-small@0123456789abcdef'
const UNITS = 10
const genesis: Genesis = {
  ...testGenesis([client, host, other]),
  inference: { unitPrice: 3n, models: [[MODEL, UNITS]] },
}
const ctx = { chainId: genesis.chainId, registry }
const block = { height: 2, time: 2_000_000, proposer: other.peerId }

/** A transaction of `signer` at its next nonce in `state`. */
function tx(state: State, signer: Signer, type: string, body: unknown): SignedTx {
  const nonce = getAccount(state, signer.peerId).nonce
  return signTx(registry, genesis.chainId, signer, { type, nonce, fee: 1n, body })
}

function apply(state: State, t: SignedTx): void {
  const o = new Overlay(state)
  applyTx(o, t, ctx, block)
  state.commit(o)
}

function rejects(state: State, t: SignedTx, code: string): void {
  const before = toHex(state.root)
  assert.throws(
    () => applyTx(new Overlay(state), t, ctx, block),
    (err: unknown) => err instanceof TxRejectedError && err.code === code,
    `expected ${code}`,
  )
  assert.equal(toHex(state.root), before, 'nothing changed')
}

/** A chain where `host` announces the model, and a task of `client` is open with `maxCost` escrowed. */
function withOpenTask(maxCost = 100_000n): { state: State; taskId: Uint8Array } {
  const state = genesisState(genesis)
  apply(
    state,
    tx(state, host, 'HostAnnounce', { models: [MODEL], priceVote: 1n, fingerprint: 'f', addrs: [] }),
  )
  const open = tx(state, client, 'TaskOpen', { model: MODEL, maxCost })
  apply(state, open)
  return { state, taskId: taskIdOf(client.peerId, open.nonce) }
}

function receipt(taskId: Uint8Array, completion = 20): Receipt {
  return {
    taskId,
    modelId: MODEL,
    inputHash: new Uint8Array(32).fill(1),
    outputHash: outputHash([1, 2, 3]),
    promptTokens: 5,
    completionTokens: completion,
  }
}

test('TaskOpen escrows max_cost under a task id fixed by sender and nonce', () => {
  const { state, taskId } = withOpenTask(100_000n)
  assert.equal(getAccount(state, client.peerId).balance, 1_000_000n - 100_000n - 1n)
  const task = getTask(state, toHex(taskId))
  assert.deepEqual(task, { client: client.peerId, model: MODEL, maxCost: 100_000n, height: 2, unitPrice: 3n })
})

test('TaskOpen refuses an unapproved model, a zero max_cost and a balance below max_cost', () => {
  const state = genesisState(genesis)
  rejects(state, tx(state, client, 'TaskOpen', { model: 'other@1', maxCost: 10n }), 'UNKNOWN_MODEL')
  rejects(state, tx(state, client, 'TaskOpen', { model: MODEL, maxCost: 0n }), 'BAD_BODY')
  rejects(state, tx(state, client, 'TaskOpen', { model: MODEL, maxCost: 2_000_000n }), 'INSUFFICIENT_FUNDS')
})

test('TaskReceipt pays tokens × units × price into the executor’s held rewards and refunds the rest', () => {
  const { state, taskId } = withOpenTask(100_000n)
  const before = getAccount(state, client.peerId).balance
  const r = receipt(taskId, 20)
  apply(
    state,
    tx(state, client, 'TaskReceipt', {
      receipt: r,
      executor: host.peerId,
      sig: signReceipt(genesis.chainId, host, r),
    }),
  )
  const fee = BigInt((5 + 20) * UNITS) * 3n
  assert.equal(heldOf(state, host.peerId), fee)
  assert.equal(getAccount(state, client.peerId).balance, before + 100_000n - fee - 1n)
  assert.equal(getTask(state, toHex(taskId)), undefined, 'settled once')
  // The same receipt again: the task is gone.
  rejects(
    state,
    tx(state, client, 'TaskReceipt', {
      receipt: r,
      executor: host.peerId,
      sig: signReceipt(genesis.chainId, host, r),
    }),
    'NO_TASK',
  )
})

test('the fee is capped at max_cost', () => {
  const { state, taskId } = withOpenTask(100n)
  const r = receipt(taskId, 1000)
  apply(
    state,
    tx(state, client, 'TaskReceipt', {
      receipt: r,
      executor: host.peerId,
      sig: signReceipt(genesis.chainId, host, r),
    }),
  )
  assert.equal(heldOf(state, host.peerId), 100n)
  assert.equal(taskFee(1005, UNITS, 3n, 100n), 100n)
})

test('a receipt is refused when forged, from another client, for another model, or from a non-host', () => {
  const { state, taskId } = withOpenTask()
  const r = receipt(taskId)
  const good = signReceipt(genesis.chainId, host, r)
  // Signed by someone else than the named executor.
  rejects(
    state,
    tx(state, client, 'TaskReceipt', {
      receipt: r,
      executor: host.peerId,
      sig: signReceipt(genesis.chainId, other, r),
    }),
    'BAD_RECEIPT',
  )
  // Token counts changed after signing.
  const inflated = { ...r, completionTokens: 999 }
  rejects(
    state,
    tx(state, client, 'TaskReceipt', { receipt: inflated, executor: host.peerId, sig: good }),
    'BAD_RECEIPT',
  )
  // Another chain's signature.
  rejects(
    state,
    tx(state, client, 'TaskReceipt', {
      receipt: r,
      executor: host.peerId,
      sig: signReceipt('other-chain', host, r),
    }),
    'BAD_RECEIPT',
  )
  // Posted by someone who is not the task's client.
  rejects(
    state,
    tx(state, other, 'TaskReceipt', { receipt: r, executor: host.peerId, sig: good }),
    'NOT_CLIENT',
  )
  // Another model.
  const wrongModel = { ...r, modelId: 'other@1' }
  rejects(
    state,
    tx(state, client, 'TaskReceipt', {
      receipt: wrongModel,
      executor: host.peerId,
      sig: signReceipt(genesis.chainId, host, wrongModel),
    }),
    'BAD_RECEIPT',
  )
  // An executor that does not announce the model.
  rejects(
    state,
    tx(state, client, 'TaskReceipt', {
      receipt: r,
      executor: other.peerId,
      sig: signReceipt(genesis.chainId, other, r),
    }),
    'BAD_RECEIPT',
  )
})

test('TaskCancel returns the whole escrow, to the client only', () => {
  const { state, taskId } = withOpenTask(100_000n)
  const before = getAccount(state, client.peerId).balance
  rejects(state, tx(state, other, 'TaskCancel', { taskId }), 'NOT_CLIENT')
  apply(state, tx(state, client, 'TaskCancel', { taskId }))
  assert.equal(getAccount(state, client.peerId).balance, before + 100_000n - 1n)
  assert.equal(getTask(state, toHex(taskId)), undefined)
})

test('routing candidates: hosts of the model with weight, jailed ones left out, sorted by id', () => {
  const state = genesisState({
    ...genesis,
    accounts: [...genesis.accounts, { id: idle.peerId, balance: 1000n, stake: 0n }],
    validators: [
      { id: client.peerId, power: 1 },
      { id: host.peerId, power: 2 },
      { id: other.peerId, power: 3 },
    ],
  })
  for (const s of [host, other, idle])
    apply(
      state,
      tx(state, s, 'HostAnnounce', { models: [MODEL], priceVote: 1n, fingerprint: 'f', addrs: [] }),
    )
  // `idle` announces but has no weight; `client` has weight but announces nothing.
  const c = routeCandidates(state, MODEL, 3)
  assert.deepEqual(
    c,
    [
      [host.peerId, 2],
      [other.peerId, 3],
    ].sort(([a], [b]) => ((a as string) < (b as string) ? -1 : 1)),
  )
  assert.deepEqual(routeCandidates(state, 'other@1', 3), [])
  // Jail `other` until height 10: it drops out until then.
  const o = new Overlay(state)
  putValidatorEntries(
    o,
    getValidatorEntries(state).map((v) => (v.id === other.peerId ? { ...v, jailedUntil: 10 } : v)),
  )
  state.commit(o)
  assert.deepEqual(routeCandidates(state, MODEL, 3), [[host.peerId, 2]])
  assert.equal(routeCandidates(state, MODEL, 10).length, 2)
})

test('the executor draw is a deterministic permutation, proportional to weight', () => {
  const cands: Array<[string, number]> = [
    ['a', 1],
    ['b', 2],
    ['c', 5],
  ]
  const seed = new Uint8Array(32).fill(7)
  const first = new Map<string, number>()
  const N = 20_000
  for (let i = 0; i < N; i++) {
    const id = taskIdOf(client.peerId, i)
    const order = executorOrder(cands, id, seed)
    assert.deepEqual([...order].sort(), ['a', 'b', 'c'])
    if (i < 50) assert.deepEqual(executorOrder(cands, id, seed), order, 'recomputed identically')
    first.set(order[0]!, (first.get(order[0]!) ?? 0) + 1)
  }
  for (const [id, w] of cands) {
    const p = w / 8
    const sd = Math.sqrt(N * p * (1 - p))
    assert.ok(Math.abs(first.get(id)! - N * p) < 5 * sd, `${id}: ${first.get(id)} of ${N}, expected ${N * p}`)
  }
})

test('max_cost is a gas limit: the client pays exactly the tokens it got, and never more than max_cost', () => {
  // 30 base units a token (10 units at price 3): 389 pays for the 5-token prompt and 7 more.
  const maxCost = 389n
  assert.equal(tokenBudget(maxCost, BigInt(UNITS) * 3n, 5), 7)
  const settle = (completion: number): { paid: bigint; held: bigint } => {
    const { state, taskId } = withOpenTask(maxCost)
    const before = getAccount(state, client.peerId).balance
    const r = receipt(taskId, completion)
    const t = tx(state, client, 'TaskReceipt', {
      receipt: r,
      executor: host.peerId,
      sig: signReceipt(genesis.chainId, host, r),
    })
    apply(state, t)
    const held = heldOf(state, host.peerId)
    const paid = before + maxCost - t.fee - getAccount(state, client.peerId).balance
    assert.equal(paid, held, 'what the client paid is what the executor holds: nothing created or lost')
    return { paid, held }
  }
  // Stopped at the budget: exactly (5 + 7) × 30, the rest of the escrow refunded.
  assert.equal(settle(7).paid, 360n)
  // A receipt claiming one token more than the escrow buys ((5 + 8) × 30 = 390) is charged
  // max_cost, not 390: the ledger cannot tell, so it caps; the client's gateway refuses to post
  // such a receipt at all (withinBudget).
  assert.equal(settle(8).paid, maxCost)
  assert.equal(settle(1000).paid, maxCost)
})
