import { test } from 'node:test'
import assert from 'node:assert/strict'
import { OwnTxQueue, OwnTxError, ownTxWindow, type OwnTx } from '../../../src/node/chain/ownTxs.js'
import { TxRejectedError, type SignedTx } from '../../../src/ledger/index.js'

/**
 * A mempool of one sender with a window of `window` pending transactions: `send` signs at the
 * next nonce, `commit()` is a block that takes every pending one.
 */
function harness(window: number, opts = { maxQueued: { settle: 100, new: 3 }, maxWaitMs: 1000 }) {
  let now = 0
  let committed = 0
  let next = 0
  const sent: Array<{ type: string; nonce: number }> = []
  let refuse: TxRejectedError | undefined
  const q = new OwnTxQueue(
    {
      clock: { now: () => now },
      room: () => window - (next - committed),
      send: (tx: OwnTx) => {
        if (refuse !== undefined) throw refuse
        sent.push({ type: tx.type, nonce: next })
        return { type: tx.type, nonce: next++, hashHex: `h${next}` } as unknown as SignedTx
      },
    },
    opts,
  )
  return {
    q,
    sent,
    commit: () => {
      committed = next
      q.pump()
    },
    advance: (ms: number) => {
      now += ms
      q.pump()
    },
    refuseWith: (e: TxRejectedError | undefined) => (refuse = e),
  }
}

const code = async (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'sent',
    (e: unknown) => (e instanceof OwnTxError || e instanceof TxRejectedError ? e.code : 'other'),
  )

test('the window of every mempool is respected: what does not fit waits for a block, nonces stay contiguous', async () => {
  const h = harness(2)
  const a = h.q.enqueue({ type: 'TaskOpen', body: 1 }, { lane: 'new' })
  const b = h.q.enqueue({ type: 'TaskOpen', body: 2 }, { lane: 'new' })
  const c = h.q.enqueue({ type: 'TaskOpen', body: 3 }, { lane: 'new' })
  assert.equal(a.sent?.nonce, 0, 'sent at once')
  assert.equal(b.sent?.nonce, 1)
  assert.equal(c.sent, undefined, 'held back: two are pending already')
  assert.equal(h.sent.length, 2)
  // A settlement queued now goes before the waiting escrow.
  const r = h.q.enqueue({ type: 'TaskReceipt', body: 4, check: false }, { lane: 'settle' })
  assert.equal(r.sent, undefined)
  h.commit()
  assert.deepEqual(
    h.sent.map((s) => `${s.type}@${s.nonce}`),
    ['TaskOpen@0', 'TaskOpen@1', 'TaskReceipt@2', 'TaskOpen@3'],
  )
  assert.equal((await c.done).nonce, 3)
  assert.equal((await r.done).nonce, 2)
  assert.equal(h.q.size, 0)
})

test('a full line, a timeout and a client that left refuse before anything is signed; settlements never time out', async () => {
  const h = harness(0)
  const waiting = [1, 2, 3].map((i) => h.q.enqueue({ type: 'TaskOpen', body: i }, { lane: 'new' }))
  assert.equal(await code(h.q.enqueue({ type: 'TaskOpen', body: 4 }, { lane: 'new' }).done), 'QUEUE_FULL')
  const settle = h.q.enqueue({ type: 'TaskCancel', body: 5 }, { lane: 'settle' })
  const left = new AbortController()
  left.abort()
  assert.equal(
    await code(h.q.enqueue({ type: 'TaskOpen', body: 6 }, { lane: 'settle', signal: left.signal }).done),
    'ABORTED',
  )
  h.advance(999)
  assert.equal(h.q.size, 4)
  h.advance(1)
  for (const p of waiting) assert.equal(await code(p.done), 'TIMEOUT')
  assert.equal(h.q.size, 1, 'the settlement still waits')
  h.advance(60_000)
  assert.equal(h.q.size, 1)
  h.q.stop()
  assert.equal(await code(settle.done), 'STOPPED')
  assert.equal(h.sent.length, 0)
})

test('a client that leaves while its escrow waits is never signed', async () => {
  const h = harness(1)
  h.q.enqueue({ type: 'TaskOpen', body: 1 }, { lane: 'new' })
  const leaving = new AbortController()
  const gone = h.q.enqueue({ type: 'TaskOpen', body: 2 }, { lane: 'new', signal: leaving.signal })
  const stays = h.q.enqueue({ type: 'TaskOpen', body: 3 }, { lane: 'new' })
  leaving.abort()
  assert.equal(await code(gone.done), 'ABORTED')
  h.commit()
  assert.deepEqual(
    h.sent.map((s) => s.nonce),
    [0, 1],
  )
  assert.equal((await stays.done).nonce, 1)
})

test('a transient refusal keeps the transaction at the head of its line; a lasting one fails it alone', async () => {
  const h = harness(10)
  h.refuseWith(new TxRejectedError('MEMPOOL_FULL', 'full'))
  const a = h.q.enqueue({ type: 'TaskCancel', body: 1 }, { lane: 'settle' })
  const b = h.q.enqueue({ type: 'TaskOpen', body: 2 }, { lane: 'new' })
  assert.equal(a.sent, undefined)
  assert.equal(h.q.size, 2)
  h.refuseWith(undefined)
  h.q.pump()
  assert.equal((await a.done).nonce, 0)
  assert.equal((await b.done).nonce, 1)

  h.refuseWith(new TxRejectedError('INSUFFICIENT_FUNDS', 'poor'))
  const c = h.q.enqueue({ type: 'TaskOpen', body: 3 }, { lane: 'new' })
  assert.equal(await code(c.done), 'INSUFFICIENT_FUNDS')
  h.refuseWith(undefined)
  const d = h.q.enqueue({ type: 'TaskOpen', body: 4 }, { lane: 'new' })
  assert.equal(d.sent?.nonce, 2, 'no nonce was spent on the refused one')
})

test('the window keeps a quarter of what every mempool admits for transactions sent directly', () => {
  assert.equal(ownTxWindow({ maxNonceGap: 64, maxPerSender: 256 }), 48)
  assert.equal(ownTxWindow({ maxNonceGap: 64, maxPerSender: 20 }), 15)
  assert.equal(ownTxWindow({ maxNonceGap: 0, maxPerSender: 256 }), 1)
})
