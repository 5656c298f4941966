import { test } from 'node:test'
import assert from 'node:assert/strict'
import { baseRegistry, decodeTx, signTx, type SignedTx } from '../../../src/ledger/tx/index.js'
import { runBody } from '../../../src/ledger/executor.js'
import { genesisState, type Genesis } from '../../../src/ledger/genesis.js'
import type { State } from '../../../src/ledger/state/state.js'
import { getAccount } from '../../../src/ledger/state/access.js'
import { decodeEntry, encodeEntry } from '../../../src/ledger/state/records.js'
import { encode } from '../../../src/ledger/codec.js'
import { TxRejectedError } from '../../../src/ledger/errors.js'
import { getEpoch } from '../../../src/ledger/epoch/access.js'
import { toHex, type Signer } from '../../../src/ledger/crypto.js'
import {
  getInferenceParams,
  getTask,
  outputHash,
  signReceipt,
  taskIdOf,
  type Receipt,
} from '../../../src/ledger/task/index.js'
import { epochWeights, heldOf } from '../../../src/ledger/verify/index.js'
import {
  getPriceVote,
  priceTally,
  weightedMedian,
  type WeightedPrice,
} from '../../../src/ledger/price/index.js'
import { TEST_PARAMS, testSigner, TEST_RACE } from '../../helpers/chainSim.js'

// SPEC 7 and seed 004 appendix J: a price per unit of compute set each epoch's end by the
// weight-weighted (lower) median of the votes of the peers with weight.

const median = (...votes: Array<[number, number]>): bigint | undefined =>
  weightedMedian(votes.map(([p, w]): WeightedPrice => [BigInt(p), w]))

test('the weighted median is the smallest price with at least half the weight at or below it', () => {
  assert.equal(median([10, 1]), 10n)
  assert.equal(median([10, 1], [20, 1], [30, 1]), 20n)
  assert.equal(median([30, 1], [10, 1], [20, 1]), 20n, 'the order of the votes does not matter')
  assert.equal(median([10, 1], [20, 5], [30, 1]), 20n, 'weight, not head count')
  assert.equal(median([10, 3], [20, 1], [30, 1], [40, 1]), 10n, 'exactly half at 10')
  assert.equal(median([10, 2], [20, 1], [30, 1], [40, 1]), 20n)
  assert.equal(median(), undefined, 'no vote')
  assert.equal(median([10, 0], [20, 0]), undefined, 'no vote with weight')
  assert.equal(median([10, 0], [20, 1], [30, 0]), 20n, 'weight 0 takes no part')
  const big = 2n ** 64n - 1n
  assert.equal(
    weightedMedian([
      [big, 2 ** 52],
      [big - 1n, 2 ** 52],
      [big, 1],
    ]),
    big,
    'integer-only',
  )
})

test('ties: an even split picks the lower price, and equal prices pool their weight', () => {
  assert.equal(median([10, 1], [20, 1]), 10n, 'half and half: the lower (the clients’ side)')
  assert.equal(median([20, 5], [10, 5]), 10n)
  assert.equal(median([10, 2], [20, 1], [20, 1], [30, 1]), 20n, '2 of 5 at 10: not half; 4 of 5 at 20')
  assert.equal(median([10, 1], [20, 1], [20, 1], [30, 1]), 20n, 'ties at the median price')
  // Splitting one voter's weight into two voters of the same price changes nothing.
  assert.equal(median([10, 3], [25, 2], [40, 4]), median([10, 3], [25, 1], [25, 1], [40, 4]))
})

test('a peer with more than half of the weight sets the price alone, whatever the others vote', () => {
  for (const others of [
    [1, 2, 3],
    [1000, 2000, 3000],
    [1, 1000, 10 ** 12],
  ]) {
    // 51 of 100 against 16 + 16 + 17.
    const [x, y, z] = others as [number, number, number]
    assert.equal(median([500, 51], [x, 16], [y, 16], [z, 17]), 500n)
  }
  // Exactly half sets it only from below (the lower median).
  assert.equal(median([500, 50], [900, 50]), 500n)
  assert.equal(median([500, 50], [100, 50]), 100n)
})

test('a minority outlier never leaves the range of the other votes and moves the median by at most one rank', () => {
  // Six honest votes of equal weight: their (lower) median is 120, the third of six.
  const honest: Array<[number, number]> = [100, 110, 120, 130, 140, 150].map((p) => [p, 1])
  assert.equal(median(...honest), 120n)
  // A seventh voter, anywhere: the median stays between the third and the fourth honest vote.
  for (const x of [1, 50, 100, 115, 120, 125, 135, 150, 1000, 10 ** 15]) {
    const m = median(...honest, [x, 1])!
    assert.ok(m >= 120n && m <= 130n, `outlier ${x}: median ${m}`)
  }
  assert.equal(median(...honest, [1, 1]), 120n, 'pulled down: it stays')
  assert.equal(median(...honest, [10 ** 15, 1]), 130n, 'pushed up: one rank')
  // Unequal weights: an outlier with 45% of the weight, at either extreme, stays inside the others’ range.
  const others: Array<[number, number]> = [
    [100, 10],
    [120, 20],
    [140, 25],
  ]
  assert.equal(median(...others, [1, 45]), 100n, 'pulled down, not below the others')
  assert.equal(median(...others, [10 ** 12, 45]), 140n, 'pushed up, not above the others')
})

// The ledger: votes, epoch ends, and tasks opened before a change.

const registry = baseRegistry()
const [a, b, c, d, client] = [0, 1, 2, 3, 4].map(testSigner) as [Signer, Signer, Signer, Signer, Signer]
const MODEL = 'kjv-small@0123456789abcdef'
const UNITS = 10
const race = TEST_RACE
const genesis: Genesis = {
  chainId: 'cordex-price',
  time: 0,
  params: TEST_PARAMS,
  accounts: [a, b, c, d, client].map((s) => ({ id: s.peerId, balance: 10_000_000n, stake: 0n })),
  // Weights 4, 3, 2, 1 of 10; with no Race proofs they stay the weights of every epoch.
  validators: [a, b, c, d].map((s, i) => ({ id: s.peerId, power: 4 - i })),
  race,
  inference: { unitPrice: 100n, models: [[MODEL, UNITS]] },
}

class Chain {
  state: State = genesisState(genesis)
  height = 0
  time = 0
  private readonly nonces = new Map<string, number>()

  tx(signer: Signer, type: string, body: unknown): SignedTx {
    const nonce = this.nonces.get(signer.peerId) ?? 0
    this.nonces.set(signer.peerId, nonce + 1)
    return signTx(registry, genesis.chainId, signer, { type, nonce, fee: 1n, body } as never)
  }

  /** One block; returns the codes of the transactions whose rules refused them. */
  block(txs: SignedTx[] = [], dt = 10): string[] {
    this.height++
    this.time += dt
    const run = runBody(
      this.state,
      { chainId: genesis.chainId, registry },
      {
        height: this.height,
        time: this.time,
        prevHash: new Uint8Array(32).fill(this.height % 256),
        proposer: testSigner(9).peerId,
        txs,
        evidence: [],
      },
      false,
    )
    this.state.commit(run.overlay)
    assert.deepEqual(run.dropped, [])
    return run.failed.map((f) => f.error.code)
  }

  get epoch(): number {
    return getEpoch(this.state)!.number
  }

  get price(): bigint {
    return getInferenceParams(this.state)!.unitPrice
  }

  /** Empty blocks until the next epoch; the price holds on every block before its activation. */
  nextEpoch(): void {
    const e = this.epoch
    const before = this.price
    for (let i = 0; i < 200 && this.epoch === e; i++) {
      assert.equal(this.price, before, 'the price changes only at the epoch’s end')
      this.block([], 400)
    }
    assert.equal(this.epoch, e + 1)
  }

  open(maxCost = 1_000_000n): Uint8Array {
    const t = this.tx(client, 'TaskOpen', { model: MODEL, maxCost })
    assert.deepEqual(this.block([t]), [])
    return taskIdOf(client.peerId, t.nonce)
  }

  /** Settle a task with `a`'s receipt for 5 + 20 tokens; returns the fee charged. */
  settle(taskId: Uint8Array): bigint {
    const r: Receipt = {
      taskId,
      modelId: MODEL,
      inputHash: new Uint8Array(32).fill(7),
      outputHash: outputHash([1, 2, 3]),
      promptTokens: 5,
      completionTokens: 20,
    }
    const held = heldOf(this.state, a.peerId)
    const sig = signReceipt(genesis.chainId, a, r)
    assert.deepEqual(
      this.block([this.tx(client, 'TaskReceipt', { receipt: r, executor: a.peerId, sig })]),
      [],
    )
    return heldOf(this.state, a.peerId) - held
  }
}

function started(): Chain {
  const chain = new Chain()
  assert.deepEqual(
    chain.block([
      chain.tx(a, 'HostAnnounce', { models: [MODEL], priceVote: 1n, fingerprint: 'f', addrs: [] }),
    ]),
    [],
  )
  return chain
}

test('at the epoch’s end the weighted median of the votes becomes the price; a non-voter counts as the price in force', () => {
  const chain = started()
  // a (4) 60, b (3) 200, c (2) 80; d (1) never votes and counts as 100; the client has no weight.
  assert.deepEqual(
    chain.block([
      chain.tx(a, 'PriceVote', { price: 60n }),
      chain.tx(b, 'PriceVote', { price: 200n }),
      chain.tx(c, 'PriceVote', { price: 80n }),
      chain.tx(client, 'PriceVote', { price: 1n }),
    ]),
    [],
  )
  assert.deepEqual(getPriceVote(chain.state, a.peerId), { price: 60n, height: chain.height })
  assert.equal(chain.price, 100n, 'votes change nothing before the epoch ends')
  const tally = priceTally(chain.state, epochWeights(chain.state, getEpoch(chain.state)))!
  assert.equal(tally.current, 100n)
  // 60 holds 4 of 10 (not half); 60 and 80 hold 6: the median is 80.
  assert.equal(tally.next, 80n)
  assert.deepEqual(
    tally.votes.map((v) => [v.peer, v.weight, v.price, v.recorded]),
    [
      [a.peerId, 4, 60n, true],
      [b.peerId, 3, 200n, true],
      [c.peerId, 2, 80n, true],
      [d.peerId, 1, 100n, false],
    ].sort(([x], [y]) => ((x as string) < (y as string) ? -1 : 1)),
    'every peer with weight, the client (no weight) not among them',
  )

  chain.nextEpoch()
  assert.equal(chain.price, 80n)

  // Epoch 1: c changes its vote; a and b count with their last votes, d with the price now in
  // force (80, no longer 100): 60 (4), 80 (1), 200 (3), 300 (2): 60 and 80 hold half, so 80.
  // Had d still counted as 100, the median would be 100.
  assert.deepEqual(chain.block([chain.tx(c, 'PriceVote', { price: 300n })]), [])
  chain.nextEpoch()
  assert.equal(chain.price, 80n)

  // A vote replaces the last one: a moves to 250: 80 (1), 200 (3), 250 (4), 300 (2): 250.
  assert.deepEqual(chain.block([chain.tx(a, 'PriceVote', { price: 250n })]), [])
  assert.equal(getPriceVote(chain.state, a.peerId)!.price, 250n)
  chain.nextEpoch()
  assert.equal(chain.price, 250n)
})

test('a task keeps the price it was opened at when the price changes before it settles', () => {
  const chain = started()
  assert.deepEqual(
    chain.block([chain.tx(a, 'PriceVote', { price: 300n }), chain.tx(b, 'PriceVote', { price: 300n })]),
    [],
  )
  const before = chain.open()
  assert.equal(getTask(chain.state, toHex(before))!.unitPrice, 100n)
  chain.nextEpoch()
  assert.equal(chain.price, 300n, 'a and b hold 7 of 10')
  const after = chain.open()
  assert.equal(getTask(chain.state, toHex(after))!.unitPrice, 300n)

  const balance = getAccount(chain.state, client.peerId).balance
  const tokens = BigInt((5 + 20) * UNITS)
  assert.equal(chain.settle(before), tokens * 100n, 'opened at 100: charged at 100, not 300')
  assert.equal(chain.settle(after), tokens * 300n)
  assert.equal(
    getAccount(chain.state, client.peerId).balance,
    balance + 2n * 1_000_000n - tokens * 400n - 2n,
    'the client gets the rest of both escrows back (less two transaction fees)',
  )
})

test('a PriceVote of 0, a negative, a non-integer or an oversized price is refused with BAD_PRICE', () => {
  const chain = started()
  const badPrice = (fn: () => unknown): void =>
    assert.throws(fn, (err: unknown) => err instanceof TxRejectedError && err.code === 'BAD_PRICE')
  // From the network: the transaction does not even decode.
  for (const price of [0, -5, -(2n ** 63n), 1.5, '7', new Uint8Array(1)]) {
    const bytes = encode(['PriceVote', a.peerId, 0, 1, [price], new Uint8Array(64)])
    badPrice(() => decodeTx(registry, bytes, 4096))
  }
  // From a client's JSON (POST /tx): amounts are decimal strings.
  const t = registry.get('PriceVote')!
  for (const price of ['0', '-1', '1.5', '1e3', '18446744073709551616', 7, null])
    badPrice(() => t.fromJson({ price }))
  assert.deepEqual(t.fromJson({ price: '18446744073709551615' }), { price: 2n ** 64n - 1n })
  // Built in memory and put in a block: refused there, the vote unchanged.
  assert.deepEqual(
    chain.block([
      chain.tx(a, 'PriceVote', { price: 70n }),
      chain.tx(a, 'PriceVote', { price: 0n }),
      chain.tx(a, 'PriceVote', { price: -3n }),
    ]),
    ['BAD_PRICE', 'BAD_PRICE'],
  )
  assert.equal(getPriceVote(chain.state, a.peerId)!.price, 70n)
  // A valid one decodes to what was signed.
  const ok = chain.tx(b, 'PriceVote', { price: 12345n })
  assert.deepEqual(decodeTx(registry, ok.bytes, 4096).body, { price: 12345n })
})

test('price votes and task prices are state entries with canonical codecs', () => {
  const vote = { price: 2n ** 64n - 1n, height: 42 }
  const key = `pricevote:${a.peerId}`
  assert.deepEqual(decodeEntry(key, encodeEntry(key, vote)), vote)
  const task = { client: client.peerId, model: MODEL, maxCost: 10n, height: 4, unitPrice: 3n }
  const tkey = `task:${'cd'.repeat(32)}`
  assert.deepEqual(decodeEntry(tkey, encodeEntry(tkey, task)), task)
})
