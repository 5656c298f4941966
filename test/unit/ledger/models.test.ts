import { test } from 'node:test'
import assert from 'node:assert/strict'
import { baseRegistry, signTx, type SignedTx } from '../../../src/ledger/tx/index.js'
import { runBody } from '../../../src/ledger/executor.js'
import { genesisState, type Genesis } from '../../../src/ledger/genesis.js'
import { Overlay, type State } from '../../../src/ledger/state/state.js'
import { getAccount, getSupply } from '../../../src/ledger/state/access.js'
import { getEpoch, putEpoch } from '../../../src/ledger/epoch/access.js'
import type { Signer } from '../../../src/ledger/crypto.js'
import { TxRejectedError, CodecError } from '../../../src/ledger/errors.js'
import { routeCandidates, unitsPerToken, type TaskRecord } from '../../../src/ledger/task/index.js'
import { getHeld } from '../../../src/ledger/verify/index.js'
import {
  expireProposals,
  getProposal,
  pendingModelIds,
  proposalDeposits,
  recentDecisions,
  putProposal,
  type GovernanceParams,
} from '../../../src/ledger/models/index.js'
import { modelPropose } from '../../../src/ledger/tx/types/modelPropose.js'
import { TEST_PARAMS, testSigner, TEST_RACE } from '../../helpers/chainSim.js'
import { assertBooks } from '../../helpers/books.js'

// Models by proposal and weighted vote (SPEC 7; docs/economics-models.md), block by block.

const registry = baseRegistry()
const [a, b, c, client] = [0, 1, 2, 3].map(testSigner) as [Signer, Signer, Signer, Signer]
/** Voting weights: a 3, b 2, c 2 of 7; more than half is 4 or more. */
const POWER: Array<[Signer, number]> = [
  [a, 3],
  [b, 2],
  [c, 2],
]
const GENESIS_MODEL = 'kjv-small@0123456789abcdef'
const NEW = 'kjv-tiny@fedcba9876543210'
const OTHER = 'other@00000000000000aa'
const DEPOSIT = 50_000n
const race = TEST_RACE
const governance: GovernanceParams = { modelDeposit: DEPOSIT, modelVotingEpochs: 2, maxPendingModels: 2 }
const genesis: Genesis = {
  chainId: 'cordex-models',
  time: 0,
  params: TEST_PARAMS,
  accounts: [a, b, c, client].map((s) => ({ id: s.peerId, balance: 1_000_000n, stake: 0n })),
  validators: POWER.map(([s, power]) => ({ id: s.peerId, power })),
  race,
  inference: { unitPrice: 3n, models: [[GENESIS_MODEL, 10]] },
  governance,
}
const GENESIS_SUPPLY = 4_000_000n

/** Every coin, recounted from the records: balances, stakes, escrows, held rewards, deposits. */
function holdings(state: State): bigint {
  let sum = 0n
  for (const [, x] of state.withPrefix('acct:')) {
    const acct = x as { balance: bigint; stake: bigint }
    sum += acct.balance + acct.stake
  }
  for (const [, t] of state.withPrefix('task:')) sum += (t as TaskRecord).maxCost
  for (const [, , amount] of getHeld(state)) sum += amount
  for (const [, p] of state.withPrefix('modelprop:')) sum += (p as { deposit: bigint }).deposit
  return sum
}

/** A chain driven block by block; after every block the supply record is checked against the holdings. */
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

  /** One block; returns the codes of transactions whose own rules refused them. */
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
    const supply = getSupply(this.state)
    assert.equal(holdings(this.state), supply.total, `holdings at height ${this.height}`)
    assert.equal(supply.total, GENESIS_SUPPLY + supply.minted - supply.burned, `supply at ${this.height}`)
    // The ledger's own books (src/ledger/economics/books.ts) count proposal deposits too.
    assertBooks(this.state, this.height, GENESIS_SUPPLY)
    return run.failed.map((f) => f.error.code)
  }

  propose(from: Signer, model = NEW, units = 495): string[] {
    return this.block([this.tx(from, 'ModelPropose', { model, unitsPerToken: units })])
  }

  vote(from: Signer, approve: boolean, model = NEW): string[] {
    return this.block([this.tx(from, 'ModelVote', { model, approve })])
  }

  get epoch(): number {
    return getEpoch(this.state)!.number
  }

  /** Empty blocks until the next epoch begins (no proofs: the validators and their power stay). */
  nextEpoch(): void {
    const e = this.epoch
    for (let i = 0; i < 200 && this.epoch === e; i++) this.block([], 400)
    assert.equal(this.epoch, e + 1)
  }

  balance(s: Signer): bigint {
    return getAccount(this.state, s.peerId).balance
  }
}

test('a proposed model is not routable until approved, and is routable right after the vote that passes half the weight', () => {
  const chain = new Chain()
  chain.block([chain.tx(a, 'HostAnnounce', { models: [NEW], priceVote: 1n, fingerprint: 'f', addrs: [] })])
  const before = chain.balance(client)
  assert.deepEqual(chain.propose(client), [])
  assert.equal(chain.balance(client), before - 1n - DEPOSIT, 'the deposit is escrowed')
  assert.equal(proposalDeposits(chain.state), DEPOSIT)
  assert.equal(unitsPerToken(chain.state, NEW), undefined)
  assert.deepEqual(chain.block([chain.tx(client, 'TaskOpen', { model: NEW, maxCost: 10_000n })]), [
    'UNKNOWN_MODEL',
  ])

  // a holds 3 of 7: not more than half.
  assert.deepEqual(chain.vote(a, true), [])
  assert.equal(getProposal(chain.state, NEW)?.votes.length, 1)
  assert.deepEqual(chain.block([chain.tx(client, 'TaskOpen', { model: NEW, maxCost: 10_000n })]), [
    'UNKNOWN_MODEL',
  ])

  // b's vote makes 5 of 7; a TaskOpen later in the same block already finds the model approved.
  assert.deepEqual(
    chain.block([
      chain.tx(b, 'ModelVote', { model: NEW, approve: true }),
      chain.tx(client, 'TaskOpen', { model: NEW, maxCost: 10_000n }),
    ]),
    [],
  )
  assert.equal(unitsPerToken(chain.state, NEW), 495)
  assert.deepEqual(
    routeCandidates(chain.state, NEW, chain.height).map(([p]) => p),
    [a.peerId],
  )
  assert.equal(getProposal(chain.state, NEW), undefined)
  assert.deepEqual(pendingModelIds(chain.state), [])
  // The deposit came back: the client paid fees (4) and the task's escrow, nothing else.
  assert.equal(chain.balance(client), before - 4n - 10_000n)
  assert.equal(getSupply(chain.state).burned, 0n)
  assert.deepEqual(
    recentDecisions(chain.state).map((d) => [d.model, d.outcome]),
    [[NEW, 'approved']],
  )
  // Approved: nothing left to vote on or to propose.
  assert.deepEqual(chain.vote(c, false), ['MODEL_APPROVED'])
  assert.deepEqual(chain.propose(b), ['MODEL_APPROVED'])
})

test('votes come only from peers with weight, on pending proposals; a second vote replaces the first', () => {
  const chain = new Chain()
  assert.deepEqual(chain.vote(a, true), ['NO_PROPOSAL'])
  assert.deepEqual(chain.propose(client), [])
  assert.deepEqual(chain.vote(client, true), ['NO_WEIGHT'], 'the proposer holds no weight')
  assert.deepEqual(chain.vote(a, true), [])
  // a changes its mind: its yes (3) is gone, so b's yes (2) alone does not approve.
  assert.deepEqual(chain.vote(a, false), [])
  assert.deepEqual(chain.vote(b, true), [])
  assert.equal(unitsPerToken(chain.state, NEW), undefined)
  const votes = new Map(getProposal(chain.state, NEW)?.votes)
  assert.deepEqual([votes.size, votes.get(a.peerId), votes.get(b.peerId)], [2, false, true])
  // c joins b: 4 of 7 approve.
  assert.deepEqual(chain.vote(c, true), [])
  assert.equal(unitsPerToken(chain.state, NEW), 495)
})

test('more than half voting no rejects at once and burns the deposit', () => {
  const chain = new Chain()
  const before = chain.balance(client)
  chain.propose(client)
  assert.deepEqual(chain.vote(a, false), [])
  assert.notEqual(getProposal(chain.state, NEW), undefined, '3 of 7 is not more than half')
  assert.deepEqual(chain.vote(c, false), [])
  assert.equal(getProposal(chain.state, NEW), undefined)
  assert.equal(unitsPerToken(chain.state, NEW), undefined)
  assert.equal(chain.balance(client), before - 1n - DEPOSIT, 'the deposit is not returned')
  assert.equal(getSupply(chain.state).burned, DEPOSIT)
  assert.equal(getSupply(chain.state).total, GENESIS_SUPPLY - DEPOSIT)
  assert.deepEqual(
    recentDecisions(chain.state).map((d) => d.outcome),
    ['rejected'],
  )
  // Rejected is not pending: it may be proposed again.
  assert.deepEqual(chain.propose(client), [])
})

test('a proposal not approved within its window expires as the window ends and its deposit is burned', () => {
  const chain = new Chain()
  const start = chain.epoch
  chain.propose(client)
  assert.equal(getProposal(chain.state, NEW)?.closesAt, start + 2)
  assert.deepEqual(chain.vote(a, true), [])
  chain.nextEpoch()
  // The window's last epoch: votes still count (3 for, 2 against of 7 decides nothing).
  assert.deepEqual(chain.vote(b, false), [])
  assert.notEqual(getProposal(chain.state, NEW), undefined)
  chain.nextEpoch()
  assert.equal(getProposal(chain.state, NEW), undefined)
  assert.equal(unitsPerToken(chain.state, NEW), undefined)
  assert.equal(getSupply(chain.state).burned, DEPOSIT)
  assert.deepEqual(
    recentDecisions(chain.state).map((d) => [d.outcome, d.epoch]),
    [['expired', start + 2]],
  )
  assert.deepEqual(chain.vote(a, true), ['NO_PROPOSAL'])
})

test('proposals are refused for approved or pending models, beyond the pending limit, and without the deposit', () => {
  const chain = new Chain()
  assert.deepEqual(chain.propose(client, GENESIS_MODEL), ['MODEL_APPROVED'])
  assert.deepEqual(chain.propose(client), [])
  assert.deepEqual(chain.propose(a), ['MODEL_PENDING'], 'a second proposal of a pending model')
  assert.deepEqual(chain.propose(a, OTHER), [])
  assert.deepEqual(chain.propose(b, 'third@00000000000000bb'), ['PROPOSALS_FULL'])
  assert.deepEqual(pendingModelIds(chain.state), [NEW, OTHER])
  // A poor proposer.
  const poor = testSigner(7)
  chain.block([chain.tx(a, 'Transfer', { to: poor.peerId, amount: DEPOSIT })])
  chain.vote(a, false, OTHER)
  chain.vote(b, false, OTHER)
  assert.deepEqual(chain.propose(poor, OTHER), ['INSUFFICIENT_FUNDS'], 'the fee leaves less than the deposit')
  // The failed ones changed nothing: still two deposits held, one burned.
  assert.equal(proposalDeposits(chain.state), DEPOSIT)
  assert.equal(getSupply(chain.state).burned, DEPOSIT)
})

test('a model id must have the engine’s name@hash shape, and units per token a sane range', () => {
  const decode = (model: unknown, units: unknown): unknown => modelPropose.decodeBody([model, units])
  assert.deepEqual(decode(NEW, 1), { model: NEW, unitsPerToken: 1 })
  for (const bad of ['kjv', 'kjv@0123', `${'x'.repeat(65)}@0123456789abcdef`, 'a b@0123456789abcdef', 7])
    assert.throws(() => decode(bad, 1), CodecError, String(bad))
  for (const bad of [0, 1e12 + 1, -1, 1.5]) assert.throws(() => decode(NEW, bad), CodecError, String(bad))
})

test('a chain without governance adds no models by vote', () => {
  const state = genesisState({ ...genesis, governance: undefined })
  const tx = signTx(registry, genesis.chainId, client, {
    type: 'ModelPropose',
    nonce: 0,
    fee: 1n,
    body: { model: NEW, unitsPerToken: 5 },
  })
  assert.throws(
    () => registry.get('ModelPropose')!.apply(new Overlay(state), tx, { height: 1 } as never),
    (err: unknown) => err instanceof TxRejectedError && err.code === 'NO_GOVERNANCE',
  )
  assert.throws(() => genesisState({ ...genesis, inference: undefined }), /governance needs/)
})

test('at an epoch boundary, pending proposals are counted again under the new weights', () => {
  const state = genesisState(genesis)
  const o = new Overlay(state)
  putProposal(o, NEW, {
    model: NEW,
    unitsPerToken: 9,
    proposer: client.peerId,
    deposit: DEPOSIT,
    epoch: 0,
    closesAt: 5,
    height: 1,
    votes: [[b.peerId, true]],
  })
  // b's 2 of 7 decided nothing; in the new epoch b holds 5 of 8.
  putEpoch(o, {
    ...getEpoch(o)!,
    number: 1,
    weights: [
      [a.peerId, 3],
      [b.peerId, 5],
    ],
  })
  expireProposals(o, 1)
  assert.equal(unitsPerToken(o, NEW), 9)
  assert.equal(getAccount(o, client.peerId).balance, 1_000_000n + DEPOSIT)
})
