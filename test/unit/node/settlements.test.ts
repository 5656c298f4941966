import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Settlements, type SettlementChain } from '../../../src/node/infer/settlements.js'
import { OwnTxError, type Queued } from '../../../src/node/chain/ownTxs.js'
import { Keys, TaskKeys, type SignedTx } from '../../../src/ledger/index.js'
import { silentLogger } from '../../../src/util/logger.js'

const ME = 'gateway'
const TASK = 'ab'.repeat(32)

/**
 * A chain of one sender: `queueTx` admits to the mempool unless `refuse` is set, `block()` takes
 * every pending transaction and applies `effect` for each.
 */
function harness() {
  let now = 0
  let nonce = 0
  let next = 0
  const mempool = new Map<string, { type: string; nonce: number }>()
  const entries = new Map<string, unknown>()
  const sent: string[] = []
  let refuse: Error | undefined
  const chain: SettlementChain = {
    replica: {
      state: {
        get: (key: string) =>
          key === Keys.account(ME) ? { balance: 0n, nonce, stake: 0n } : entries.get(key),
      },
    },
    queueTx: (type) => {
      if (refuse !== undefined) {
        const done = Promise.reject(refuse)
        done.catch(() => {})
        return { sent: undefined, done } satisfies Queued
      }
      const tx = { type, nonce: next++, hashHex: `tx${next}` } as unknown as SignedTx
      mempool.set(tx.hashHex, { type, nonce: tx.nonce })
      sent.push(type)
      return { sent: tx, done: Promise.resolve(tx) }
    },
    isPending: (h) => mempool.has(h),
  }
  const s = new Settlements(
    { chain, me: ME, clock: { now: () => now }, log: silentLogger() },
    { max: 2, retryMinMs: 100, retryMaxMs: 1000 },
  )
  return {
    s,
    sent,
    openTask: () => entries.set(TaskKeys.task(TASK), { client: ME, model: 'm', maxCost: 10n, height: 1 }),
    /** A block: pending transactions land; `settles` says whether they close the task. */
    block: async (settles: boolean, ms = 0) => {
      now += ms
      for (const [h, tx] of mempool) {
        mempool.delete(h)
        nonce = Math.max(nonce, tx.nonce + 1)
        if (settles && tx.type !== 'TaskOpen') entries.delete(TaskKeys.task(TASK))
      }
      next = Math.max(next, nonce)
      await Promise.resolve()
      s.check()
      await Promise.resolve()
    },
    /** The mempool loses everything pending (evicted), without a block. */
    evict: () => mempool.clear(),
    refuseWith: (e: Error | undefined) => (refuse = e),
    useNonce: () => next++,
  }
}

test('a refund refused now is not reported as done, and is sent again until the task is closed', async () => {
  const h = harness()
  h.openTask()
  const openNonce = h.useNonce()
  h.refuseWith(new OwnTxError('QUEUE_FULL', 'full', { lane: 'settle' }))
  assert.equal(h.s.cancel(TASK, openNonce), false, 'the client is told the refund is pending')
  await Promise.resolve()
  await h.block(false, 50)
  assert.deepEqual(h.sent, [], 'not before its backoff')
  await h.block(false, 50)
  assert.deepEqual(h.sent, [], 'still refused')
  h.refuseWith(undefined)
  await h.block(false, 1000)
  assert.deepEqual(h.sent, ['TaskCancel'])
  assert.equal(h.s.size, 1, 'tracked until the chain shows the task closed')
  await h.block(true)
  assert.equal(h.s.size, 0)
})

test('a receipt that fails in its block becomes a refund; a dropped one is sent again', async () => {
  const h = harness()
  h.openTask()
  const openNonce = h.useNonce()
  assert.equal(h.s.receipt(TASK, openNonce, {}), true)
  await h.block(false) // the receipt lands and fails: the task is still open
  assert.deepEqual(h.sent, ['TaskReceipt', 'TaskCancel'])
  h.evict() // the refund is dropped from the mempool before any block
  await h.block(false)
  assert.deepEqual(h.sent, ['TaskReceipt', 'TaskCancel'], 'waits for its backoff')
  await h.block(false, 1000)
  assert.deepEqual(h.sent, ['TaskReceipt', 'TaskCancel', 'TaskCancel'])
  await h.block(true)
  assert.equal(h.s.size, 0)
})

test('a task whose escrow is not yet in a block is not taken for settled', () => {
  const h = harness()
  const openNonce = h.useNonce() // the TaskOpen is pending: no task on the chain yet
  h.s.receipt(TASK, openNonce, {})
  h.s.check()
  assert.equal(h.s.size, 1)
})

test('the gateway is told to take no more tasks while as many as the limit wait to be settled', () => {
  const h = harness()
  h.s.cancel(TASK, null)
  assert.equal(h.s.full, false)
  h.s.cancel('cd'.repeat(32), null)
  assert.equal(h.s.full, true)
})
