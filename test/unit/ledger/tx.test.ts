import { test } from 'node:test'
import assert from 'node:assert/strict'
import { encode } from 'cborg'
import { baseRegistry, signTx, decodeTx, type SignedTx } from '../../../src/ledger/tx/index.js'
import { applyTx } from '../../../src/ledger/executor.js'
import { genesisState } from '../../../src/ledger/genesis.js'
import { Overlay, type State } from '../../../src/ledger/state/state.js'
import { getAccount } from '../../../src/ledger/state/access.js'
import { Mempool } from '../../../src/ledger/mempool.js'
import { TxRejectedError } from '../../../src/ledger/errors.js'
import { toHex } from '../../../src/ledger/crypto.js'
import { testGenesis, testSigner } from '../../helpers/chainSim.js'

const registry = baseRegistry()
const [alice, bob, carol] = [testSigner(0), testSigner(1), testSigner(2)]
const genesis = testGenesis([alice, bob])
const ctx = { chainId: genesis.chainId, registry }

function transfer(
  nonce: number,
  amount: bigint,
  opts: { fee?: bigint; signer?: typeof alice; chainId?: string } = {},
): SignedTx {
  return signTx(registry, opts.chainId ?? genesis.chainId, opts.signer ?? alice, {
    type: 'Transfer',
    nonce,
    fee: opts.fee ?? 1n,
    body: { to: carol.peerId, amount },
  })
}

/** Apply `tx` in a throwaway overlay; assert it is refused with `code` and the state root is unchanged. */
function expectRejected(state: State, tx: SignedTx, code: string): void {
  const before = toHex(state.root)
  const o = new Overlay(state)
  assert.throws(
    () => applyTx(o.child(), tx, ctx, { height: 1, time: 2_000_000, proposer: bob.peerId }),
    (err: unknown) => err instanceof TxRejectedError && err.code === code,
    `expected ${code}`,
  )
  assert.equal(o.changes.size, 0, 'the overlay is untouched')
  assert.equal(toHex(state.root), before)
}

test('a valid transfer moves the amount, takes the fee to the proposer and bumps the nonce', () => {
  const state = genesisState(genesis)
  const o = new Overlay(state)
  applyTx(o, transfer(0, 500n), ctx, { height: 1, time: 2_000_000, proposer: bob.peerId })
  state.commit(o)
  assert.equal(getAccount(state, alice.peerId).balance, 1_000_000n - 501n)
  assert.equal(getAccount(state, alice.peerId).nonce, 1)
  assert.equal(getAccount(state, carol.peerId).balance, 500n)
  assert.equal(getAccount(state, bob.peerId).balance, 1_000_001n)
})

test('every transaction rule rejects with its reason and changes nothing', () => {
  const state = genesisState(genesis)
  // Bad signature: signed for another chain.
  expectRejected(state, transfer(0, 5n, { chainId: 'other-chain' }), 'BAD_SIGNATURE')
  // Bad signature: a flipped signature byte.
  const t = transfer(0, 5n)
  const sig = Uint8Array.from(t.sig)
  sig[0]! ^= 1
  expectRejected(state, { ...t, sig }, 'BAD_SIGNATURE')
  // Wrong nonce (a gap).
  expectRejected(state, transfer(3, 5n), 'NONCE_GAP')
  // Replay: the same transaction after it was applied.
  const first = transfer(0, 5n)
  const o = new Overlay(state)
  applyTx(o, first, ctx, { height: 1, time: 2_000_000, proposer: bob.peerId })
  state.commit(o)
  expectRejected(state, first, 'NONCE_TOO_LOW')
  // Overspend.
  expectRejected(state, transfer(1, 2_000_000n), 'INSUFFICIENT_FUNDS')
  // Cannot pay the fee: carol holds only 5.
  expectRejected(state, transfer(0, 1n, { signer: carol, fee: 10n }), 'INSUFFICIENT_FUNDS')
  // Fee under the minimum.
  expectRejected(state, transfer(1, 1n, { fee: 0n }), 'FEE_TOO_LOW')
  // Unstake more than staked.
  expectRejected(
    state,
    signTx(registry, genesis.chainId, alice, {
      type: 'Unstake',
      nonce: 1,
      fee: 1n,
      body: { amount: 20_000n },
    }),
    'INSUFFICIENT_STAKE',
  )
})

test('decoding refuses oversize, non-canonical, unknown and malformed transactions with a reason', () => {
  const tx = transfer(0, 5n)
  const reject = (bytes: Uint8Array, code: string, max = 4096): void => {
    assert.throws(
      () => decodeTx(registry, bytes, max),
      (e: unknown) => e instanceof TxRejectedError && e.code === code,
      code,
    )
  }
  assert.equal(decodeTx(registry, tx.bytes, 4096).hashHex, tx.hashHex)
  reject(tx.bytes, 'TOO_LARGE', 50)
  reject(Uint8Array.of(0xff, 0xff), 'BAD_ENCODING')
  // [1] with its integer in a needlessly long form is not the canonical encoding.
  reject(Uint8Array.of(0x81, 0x18, 0x01), 'BAD_ENCODING')
  reject(encode(['Mint', alice.peerId, 0, 1, [], new Uint8Array(64)]), 'UNKNOWN_TYPE')
  reject(encode(['Transfer', 'not-a-peer', 0, 1, [carol.peerId, 5], new Uint8Array(64)]), 'BAD_BODY')
  reject(encode(['Transfer', alice.peerId, 0, 1, [carol.peerId, 0], new Uint8Array(64)]), 'BAD_BODY')
  reject(encode(['Transfer', alice.peerId, -1, 1, [carol.peerId, 5], new Uint8Array(64)]), 'BAD_BODY')
})

test('the mempool refuses with reasons, orders by nonce and stays bounded', () => {
  const state = genesisState(genesis)
  const pool = new Mempool(registry, genesis.chainId, {
    maxTxs: 3,
    maxBytes: 1 << 20,
    maxPerSender: 2,
    maxNonceGap: 4,
  })
  const code = (fn: () => void): string => {
    try {
      fn()
    } catch (e) {
      return (e as TxRejectedError).code
    }
    return 'ACCEPTED'
  }
  assert.equal(
    code(() => pool.add(transfer(1, 5n), state)),
    'ACCEPTED',
    'a future nonce waits in line',
  )
  assert.equal(
    code(() => pool.add(transfer(1, 5n), state)),
    'DUPLICATE',
  )
  assert.equal(
    code(() => pool.add(transfer(9, 5n), state)),
    'NONCE_GAP',
  )
  assert.equal(
    code(() => pool.add(transfer(0, 5n, { fee: 0n }), state)),
    'FEE_TOO_LOW',
  )
  assert.equal(
    code(() => pool.add(transfer(0, 5n, { chainId: 'x' }), state)),
    'BAD_SIGNATURE',
  )
  assert.equal(
    code(() => pool.add(transfer(0, 5n), state)),
    'ACCEPTED',
  )
  assert.equal(
    code(() => pool.add(transfer(2, 5n), state)),
    'SENDER_LIMIT',
  )
  assert.deepEqual(
    pool.reap(state, 10).map((t) => t.nonce),
    [0, 1],
  )
  const bobTx = (fee: bigint, nonce = 0): SignedTx =>
    signTx(registry, genesis.chainId, bob, {
      type: 'Transfer',
      nonce,
      fee,
      body: { to: carol.peerId, amount: 1n },
    })
  assert.equal(
    code(() => pool.add(bobTx(1n), state)),
    'ACCEPTED',
  )
  assert.equal(pool.size, 3)
  assert.equal(
    code(() => pool.add(bobTx(1n, 1), state)),
    'MEMPOOL_FULL',
    'full, and the fee is not higher',
  )
  assert.equal(
    code(() => pool.add(bobTx(5n, 1), state)),
    'ACCEPTED',
    'a higher fee evicts the cheapest tail',
  )
  assert.equal(pool.size, 3)
})

test('in a block, a transaction whose own rules fail lands as failed: it pays its fee, uses its nonce, and the next one applies', async () => {
  const { runBody } = await import('../../../src/ledger/executor.js')
  const state = genesisState(genesis)
  const run = runBody(
    state,
    ctx,
    {
      height: 1,
      time: 2_000_000,
      prevHash: new Uint8Array(32),
      proposer: bob.peerId,
      txs: [transfer(0, 5_000_000n), transfer(1, 10n), transfer(5, 1n)],
      evidence: [],
    },
    false,
  )
  assert.deepEqual(
    run.failed.map((f) => [f.tx.nonce, f.error.code]),
    [[0, 'INSUFFICIENT_FUNDS']],
  )
  assert.deepEqual(
    run.dropped.map((d) => [d.tx.nonce, d.error.code]),
    [[5, 'NONCE_GAP']],
    'a transaction that cannot even be charged stays out',
  )
  assert.deepEqual(
    run.txs.map((t) => t.nonce),
    [0, 1],
  )
  state.commit(run.overlay)
  const a = getAccount(state, alice.peerId)
  assert.equal(a.nonce, 2)
  assert.equal(a.balance, 1_000_000n - 1n - 1n - 10n, 'two fees and the one transfer that applied')
  assert.equal(getAccount(state, carol.peerId).balance, 10n)
})
