import { test } from 'node:test'
import assert from 'node:assert/strict'
import { baseRegistry, signTx, type SignedTx } from '../../../src/ledger/tx/index.js'
import { runBody } from '../../../src/ledger/executor.js'
import { genesisState, type Genesis } from '../../../src/ledger/genesis.js'
import { Overlay, type State } from '../../../src/ledger/state/state.js'
import { heldOf, addHeld } from '../../../src/ledger/verify/index.js'
import { proofCommittee } from '../../../src/ledger/epoch/committee.js'
import { getAccount, getSupply, getValidatorEntries, putAccount } from '../../../src/ledger/state/access.js'
import { getEpoch } from '../../../src/ledger/epoch/access.js'
import { commitment, raceSeed, sampleMessage } from '../../../src/ledger/epoch/seed.js'
import type { RaceParams } from '../../../src/ledger/epoch/records.js'
import { genesisSupply } from '../../../src/ledger/economics/index.js'
import { TEST_PARAMS, testSigner } from '../../helpers/chainSim.js'
import { assertBooks } from '../../helpers/books.js'

const registry = baseRegistry()
const [a, b, c, newcomer] = [0, 1, 2, 3].map(testSigner) as [
  ReturnType<typeof testSigner>,
  ReturnType<typeof testSigner>,
  ReturnType<typeof testSigner>,
  ReturnType<typeof testSigner>,
]
const race: RaceParams = {
  commitBlocks: 2,
  revealBlocks: 2,
  raceMs: 1000,
  submitMs: 500,
  validateMs: 500,
  maxProofNonces: 100,
  sampleSize: 4,
  maxSampleFailures: 1,
  noRevealPenalty: 777n,
  maxWeightPerPeer: 0,
  minRevealBps: 5000,
  committeeSize: 0,
}
const genesis: Genesis = {
  chainId: 'cordex-epoch',
  time: 0,
  params: TEST_PARAMS,
  accounts: [a, b, c, newcomer].map((s) => ({ id: s.peerId, balance: 1_000_000n, stake: 0n })),
  validators: [a, b, c].map((s) => ({ id: s.peerId, power: 1 })),
  race,
}

/** A chain driven block by block: each block at `time`, with the given transactions; the books balance after each. */
class Chain {
  state: State
  readonly supply: bigint

  constructor(g: Genesis = genesis) {
    this.state = genesisState(g)
    this.supply = genesisSupply(g)
  }

  height = 0
  nonces = new Map<string, number>()

  tx(signer: typeof a, type: string, body: unknown): SignedTx {
    const nonce = this.nonces.get(signer.peerId) ?? 0
    this.nonces.set(signer.peerId, nonce + 1)
    return signTx(registry, genesis.chainId, signer, { type, nonce, fee: 1n, body } as never)
  }

  /**
   * Run one block; returns the reason codes of the transactions whose rules refused them (they
   * land as failed: fee paid, nothing else changed).
   */
  block(time: number, txs: SignedTx[] = []): string[] {
    this.height++
    const run = runBody(
      this.state,
      { chainId: genesis.chainId, registry },
      {
        height: this.height,
        time,
        prevHash: new Uint8Array(32).fill(this.height),
        proposer: a.peerId,
        txs,
        evidence: [],
      },
      false,
    )
    this.state.commit(run.overlay)
    assertBooks(this.state, this.height, this.supply)
    assert.deepEqual(run.dropped, [], 'every transaction here can pay its fee and has the right nonce')
    return run.failed.map((d) => d.error.code)
  }
}

const secret = (i: number): Uint8Array => new Uint8Array(32).fill(i + 1)
/** A Merkle root, as far as the ledger is concerned: 32 bytes (the validators check the list). */
const root = (i: number): Uint8Array => new Uint8Array(32).fill(100 + i)

test('an epoch runs commit, reveal, race and validate, and accepted proofs become the validator set', () => {
  const chain = new Chain()
  const e0 = getEpoch(chain.state)!
  assert.equal(e0.phase, 'commit')
  // Commit phase: the three validators commit; a non-validator may not.
  const refused = chain.block(10, [
    ...[a, b, c].map((s, i) =>
      chain.tx(s, 'RandCommit', { epoch: 0, hash: commitment(secret(i), s.peerId) }),
    ),
    chain.tx(newcomer, 'RandCommit', { epoch: 0, hash: commitment(secret(9), newcomer.peerId) }),
  ])
  assert.deepEqual(refused, ['NOT_VALIDATOR'])
  chain.block(20)
  // Reveal phase (c withholds its reveal; a reveal that does not match is refused).
  assert.deepEqual(
    chain.block(30, [
      chain.tx(a, 'RandReveal', { epoch: 0, secret: secret(0) }),
      chain.tx(b, 'RandReveal', { epoch: 0, secret: secret(5) }),
    ]),
    ['BAD_REVEAL'],
  )
  assert.equal(getEpoch(chain.state)!.phase, 'reveal')
  // Rewards earned this epoch (as TaskReceipts would leave them, paid by a client: here the
  // newcomer): a's are paid at its end, c's forfeited.
  const held = new Overlay(chain.state)
  addHeld(held, a.peerId, 0, 500n)
  addHeld(held, c.peerId, 0, 300n)
  const payer = getAccount(held, newcomer.peerId)
  putAccount(held, newcomer.peerId, { ...payer, balance: payer.balance - 800n })
  chain.state.commit(held)
  assertBooks(chain.state, chain.height, chain.supply)
  const cBefore = getAccount(chain.state, c.peerId).balance
  const burnedBefore = getSupply(chain.state).burned
  chain.block(40, [chain.tx(b, 'RandReveal', { epoch: 0, secret: secret(1) })])
  // The starting gun: the seed is H(prev ‖ reveals), c is fined, the Race starts at this block's time.
  const e = getEpoch(chain.state)!
  assert.equal(e.phase, 'race')
  assert.equal(e.gunTime, 40)
  assert.equal(e.fallback, false, 'a and b hold 2/3 of the power: enough reveals')
  assert.deepEqual(
    e.seed,
    raceSeed(e0.prevSeed, [
      [a.peerId, secret(0)],
      [b.peerId, secret(1)],
    ]),
  )
  assert.equal(
    getAccount(chain.state, c.peerId).balance,
    cBefore - 777n,
    'the committer that withheld its reveal pays',
  )
  assert.equal(
    getSupply(chain.state).burned - burnedBefore,
    777n + 300n,
    'the fine and the forfeited rewards',
  )
  assert.equal(heldOf(chain.state, c.peerId), 0n)
  assert.equal(heldOf(chain.state, a.peerId), 500n)

  // Race: proofs; c committed but did not reveal, so it gets no weight; anyone else may race.
  const refusedProofs = chain.block(500, [
    chain.tx(a, 'RaceProof', { epoch: 0, root: root(1), count: 3 }),
    chain.tx(b, 'RaceProof', { epoch: 0, root: root(2), count: 0 }),
    chain.tx(b, 'RaceProof', { epoch: 0, root: root(2), count: race.maxProofNonces + 1 }),
    chain.tx(c, 'RaceProof', { epoch: 0, root: root(3), count: 1 }),
    chain.tx(newcomer, 'RaceProof', { epoch: 0, root: root(4), count: 2 }),
    chain.tx(a, 'RaceProof', { epoch: 1, root: root(5), count: 1 }),
    chain.tx(a, 'RaceProof', { epoch: 0, root: root(6), count: 2 }),
  ])
  assert.deepEqual(refusedProofs, ['BAD_PROOF', 'BAD_PROOF', 'NO_REVEAL', 'WRONG_EPOCH', 'DUPLICATE'])
  assert.deepEqual(
    chain.block(1200, [chain.tx(b, 'RaceProof', { epoch: 0, root: root(2), count: race.maxProofNonces })]),
    [],
    'in time, and the largest count costs the same bytes as the smallest',
  )
  // A proof after the deadline (gun 40 + race 1000 + submit 500) is refused.
  chain.block(1540)
  assert.equal(getEpoch(chain.state)!.phase, 'race')
  assert.deepEqual(
    chain.block(1540, [chain.tx(newcomer, 'RaceProof', { epoch: 0, root: root(4), count: 1 })]),
    ['DUPLICATE'],
  )

  // Validate: verdicts signed with each validator's VRF; accepted by more than half the power.
  assert.deepEqual(chain.block(1541), [])
  assert.equal(getEpoch(chain.state)!.phase, 'validate')
  const ep = getEpoch(chain.state)!
  const verdict = (v: typeof a, prover: string, accepted: boolean): SignedTx => {
    const proof = ep.proofs.find(([p]) => p === prover)!
    return chain.tx(v, 'ProofVerdict', {
      epoch: 0,
      prover,
      accepted,
      failures: accepted ? 0 : 4,
      vrfSig: v.sign(sampleMessage(0, prover, proof[2])),
    })
  }
  const forged = chain.tx(c, 'ProofVerdict', {
    epoch: 0,
    prover: a.peerId,
    accepted: true,
    failures: 0,
    vrfSig: new Uint8Array(64),
  })
  assert.deepEqual(chain.block(1590, [forged]), ['BAD_VRF'], 'a verdict without its VRF proof is refused')
  const refusedVerdicts = chain.block(1600, [
    verdict(a, a.peerId, true),
    verdict(b, a.peerId, true),
    verdict(c, a.peerId, true),
    verdict(a, newcomer.peerId, true),
    verdict(b, newcomer.peerId, true),
    verdict(c, newcomer.peerId, true),
    verdict(a, b.peerId, false),
    verdict(c, b.peerId, false),
  ])
  assert.deepEqual(refusedVerdicts, ['NOT_IN_COMMITTEE'], 'no prover judges its own proof')
  assert.deepEqual(root(1), ep.proofs.find(([p]) => p === a.peerId)![2], 'the verdicts are bound to the root')

  // Activation: a (3 nonces) and the newcomer (2) are the validators now; b's proof was rejected.
  const aBefore = getAccount(chain.state, a.peerId).balance
  chain.block(2100)
  assert.equal(
    getAccount(chain.state, a.peerId).balance,
    aBefore + 500n,
    'held rewards are paid at epoch end',
  )
  assert.equal(heldOf(chain.state, a.peerId), 0n)
  const next = getEpoch(chain.state)!
  assert.equal(next.number, 1)
  assert.equal(next.phase, 'serve', 'inference only until the next Race')
  assert.equal(next.raceStart, 1 + TEST_PARAMS.epochBlocks, 'epochBlocks after this Race began')
  assert.deepEqual(next.weights, [
    [a.peerId, 3],
    [newcomer.peerId, 2],
  ])
  assert.deepEqual(
    getValidatorEntries(chain.state)
      .map((v) => [v.id, v.power])
      .sort(),
    [
      [a.peerId, 3],
      [newcomer.peerId, 2],
    ].sort(),
  )
})

test('too few reveals: the seed falls back to the previous seed and the parent block hash', () => {
  const chain = new Chain()
  chain.block(10, [chain.tx(a, 'RandCommit', { epoch: 0, hash: commitment(secret(0), a.peerId) })])
  chain.block(20)
  chain.block(30, [chain.tx(a, 'RandReveal', { epoch: 0, secret: secret(0) })])
  chain.block(40)
  const e = getEpoch(chain.state)!
  assert.equal(e.phase, 'race')
  assert.equal(e.fallback, true, 'one validator of three revealed')
  assert.notDeepEqual(e.seed, raceSeed(e.prevSeed, [[a.peerId, secret(0)]]))
})

test('a single honest revealer cannot choose the seed: every reveal changes it, and reveals are bound by commits', () => {
  const prev = new Uint8Array(32)
  const base = raceSeed(prev, [
    [a.peerId, secret(0)],
    [b.peerId, secret(1)],
  ])
  assert.notDeepEqual(
    base,
    raceSeed(prev, [
      [a.peerId, secret(0)],
      [b.peerId, secret(2)],
    ]),
  )
  assert.notDeepEqual(
    base,
    raceSeed(prev, [
      [a.peerId, secret(3)],
      [b.peerId, secret(1)],
    ]),
  )
  // Order of reveals does not matter; the commitment fixes the secret before others are known.
  assert.deepEqual(
    base,
    raceSeed(prev, [
      [b.peerId, secret(1)],
      [a.peerId, secret(0)],
    ]),
  )
  assert.notDeepEqual(commitment(secret(0), a.peerId), commitment(secret(1), a.peerId))
  assert.notDeepEqual(
    commitment(secret(0), a.peerId),
    commitment(secret(0), b.peerId),
    'a commitment cannot be copied',
  )
})

test('with a committee of one, only the drawn validator judges a proof, and its verdict decides', () => {
  const chain = new Chain({ ...genesis, race: { ...race, committeeSize: 1 } })
  chain.block(10, [
    ...[a, b, c].map((s, i) =>
      chain.tx(s, 'RandCommit', { epoch: 0, hash: commitment(secret(i), s.peerId) }),
    ),
  ])
  chain.block(20)
  chain.block(
    30,
    [a, b, c].map((s, i) => chain.tx(s, 'RandReveal', { epoch: 0, secret: secret(i) })),
  )
  chain.block(40)
  assert.equal(getEpoch(chain.state)!.phase, 'race')
  assert.deepEqual(
    chain.block(500, [chain.tx(newcomer, 'RaceProof', { epoch: 0, root: root(7), count: 3 })]),
    [],
  )
  chain.block(1541)
  const ep = getEpoch(chain.state)!
  assert.equal(ep.phase, 'validate')
  const committee = proofCommittee(chain.state, ep, { ...race, committeeSize: 1 }, newcomer.peerId)
  assert.equal(committee.length, 1)
  const [judge] = [a, b, c].filter((v) => v.peerId === committee[0])
  const others = [a, b, c].filter((v) => v !== judge)
  const verdict = (v: typeof a): SignedTx => {
    const proof = ep.proofs.find(([p]) => p === newcomer.peerId)!
    return chain.tx(v, 'ProofVerdict', {
      epoch: 0,
      prover: newcomer.peerId,
      accepted: true,
      failures: 0,
      vrfSig: v.sign(sampleMessage(0, newcomer.peerId, proof[2])),
    })
  }
  // The two validators off the committee are refused; the one on it decides alone (1 of 3 power).
  assert.deepEqual(chain.block(1600, [verdict(others[0]!), verdict(others[1]!), verdict(judge!)]), [
    'NOT_IN_COMMITTEE',
    'NOT_IN_COMMITTEE',
  ])
  chain.block(2100)
  assert.deepEqual(getEpoch(chain.state)!.weights, [[newcomer.peerId, 3]])
})

test('Races recur every epochBlocks: inference only between them, and a Race that runs long is followed at once', () => {
  const epochBlocks = 12
  const chain = new Chain({ ...genesis, params: { ...genesis.params, epochBlocks } })
  // Time moves 100 ms a block: commit (2 blocks) and reveal (2) take 4 blocks, then the Race's
  // 2,500 ms (race 1,000 + submit 500 + validate 1,000) about 25 more, past the 12-block place.
  const phases: string[] = []
  const starts: number[] = []
  let time = 0
  while (getEpoch(chain.state)!.number < 3) {
    chain.block((time += 100))
    const e = getEpoch(chain.state)!
    if (e.phase === 'commit' && e.phaseStart === chain.height) starts.push(chain.height)
    phases.push(e.phase)
  }
  assert.equal(starts[0], 1)
  // The first Race overran its 12 blocks: the next one begins as it activates, with no serving.
  assert.ok(starts[1]! > 1 + epochBlocks)
  assert.ok(!phases.includes('serve'))

  // With blocks 1 s apart the Race spans 7 blocks: the rest of the 12 serve inference only.
  const slow = new Chain({ ...genesis, params: { ...genesis.params, epochBlocks } })
  const seen: Array<[number, string, number]> = []
  time = 0
  while (getEpoch(slow.state)!.number < 4) {
    slow.block((time += 1000))
    const e = getEpoch(slow.state)!
    seen.push([slow.height, e.phase, e.number])
  }
  const raceStarts = seen
    .filter(([, p], i) => p === 'commit' && seen[i - 1]?.[1] !== 'commit')
    .map(([h]) => h)
  assert.deepEqual(raceStarts, [1, 13, 25, 37], 'a Race every 12 blocks')
  const serving = seen.filter(([, p]) => p === 'serve')
  assert.ok(serving.length >= 3 * 4, `blocks between Races serve only: ${serving.length}`)
  // An epoch's serve blocks lie between the previous Race and its own; its number moved at activation.
  for (const [h, , n] of serving) {
    const start = 1 + n * epochBlocks
    assert.ok(h > start - epochBlocks && h < start, `block ${h} of epoch ${n} is before its Race at ${start}`)
  }
})
