import { test } from 'node:test'
import assert from 'node:assert/strict'
import { genesisReplica, testGenesis, testSigner } from '../../helpers/chainSim.js'
import { genesisHash, genesisState } from '../../../src/ledger/genesis.js'
import { Replica, MAX_HEIGHTS_AHEAD, type ReplicaEffect } from '../../../src/ledger/replica.js'
import { signVote, VoteType, type Vote } from '../../../src/ledger/consensus/vote.js'
import { HeightMachine, MAX_FUTURE_ROUNDS } from '../../../src/ledger/consensus/machine.js'
import { ValidatorSet } from '../../../src/ledger/consensus/validatorSet.js'
import { getValidatorEntries } from '../../../src/ledger/state/access.js'
import type { Signer } from '../../../src/ledger/crypto.js'

const validators = [0, 1, 2, 3].map(testSigner)
const stranger = testSigner(99)
const genesis = testGenesis(validators)

function replica(): Replica {
  return genesisReplica(genesis, validators[0]!, () => genesis.time)
}

function vote(signer: Signer, height: number, round = 0): Vote {
  return signVote(genesis.chainId, signer, { type: VoteType.Prevote, height, round, blockHash: null })
}

const behind = (effects: ReplicaEffect[]): number[] =>
  effects.flatMap((e) => (e.kind === 'behind' ? [e.height] : []))

test("a stranger's signed vote is rejected for the next height and ignored for any other", () => {
  const r = replica()
  assert.equal(r.admit({ kind: 'vote', vote: vote(stranger, 1) }), 'reject')
  assert.equal(r.admit({ kind: 'vote', vote: vote(stranger, 5) }), 'ignore')
  // The forged vote of the hostile run: height 2^53 - 1.
  assert.equal(r.admit({ kind: 'vote', vote: vote(stranger, Number.MAX_SAFE_INTEGER) }), 'ignore')
  assert.equal(r.admit({ kind: 'vote', vote: vote(validators[1]!, 1) }), 'accept')
  assert.equal(r.admit({ kind: 'vote', vote: vote(validators[1]!, 1 + MAX_HEIGHTS_AHEAD) }), 'accept')
  // Even a validator's vote beyond the window is not relayed.
  assert.equal(r.admit({ kind: 'vote', vote: vote(validators[1]!, 2 + MAX_HEIGHTS_AHEAD) }), 'ignore')
  assert.equal(r.admit({ kind: 'vote', vote: vote(validators[1]!, Number.MAX_SAFE_INTEGER) }), 'ignore')
})

test('one lying validator cannot start a sync, nor stop the next real one', () => {
  const r = replica()
  r.start()
  // A validator with a quarter of the power claims the network is at 2^53 - 1, then at 500.
  assert.deepEqual(
    behind(r.handle({ kind: 'vote', vote: vote(validators[3]!, Number.MAX_SAFE_INTEGER) })),
    [],
  )
  assert.deepEqual(behind(r.handle({ kind: 'vote', vote: vote(validators[3]!, 500) })), [])
  // A second validator at height 40: more than a third of the power is at 40 or beyond.
  assert.deepEqual(behind(r.handle({ kind: 'vote', vote: vote(validators[1]!, 40) })), [39])
  // Reported once for that target, again when the network moves on.
  assert.deepEqual(behind(r.handle({ kind: 'vote', vote: vote(validators[1]!, 40, 1) })), [])
  assert.deepEqual(behind(r.handle({ kind: 'vote', vote: vote(validators[1]!, 41) })), [40])
})

test("strangers' votes for the next height do not crowd out a validator's", () => {
  const r = replica()
  // Before start, height 1 has not begun: messages for it are held (up to 1000) until it does.
  for (let i = 0; i < 2000; i++) r.handle({ kind: 'vote', vote: vote(stranger, 1, i) })
  for (const v of [validators[1]!, validators[2]!]) r.handle({ kind: 'vote', vote: vote(v, 1, 5) })
  r.start()
  // Half the power was already in round 5: the held votes moved this node there at once.
  assert.equal(r.machine!.round, 5)
})

test('a validator signing votes for a million rounds opens at most a few rounds of state', () => {
  const state = genesisState(genesis)
  const set = new ValidatorSet(getValidatorEntries(state), 1)
  const m = new HeightMachine(1, {
    chainId: genesis.chainId,
    signer: validators[0]!,
    validators: set,
    proposerOf: (round) => set.proposer(genesisHash(genesis), 1, round),
    propose: () => {
      throw new Error('not in this test')
    },
    isValid: () => true,
    timeouts: { proposeMs: 300, prevoteMs: 100, precommitMs: 100, deltaMs: 50 },
  })
  m.start()
  for (let round = 2; round < 2000; round++) m.handle({ kind: 'vote', vote: vote(validators[3]!, 1, round) })
  assert.ok(m.openRounds <= 2 + MAX_FUTURE_ROUNDS, `${m.openRounds} rounds open`)
  assert.equal(m.round, 0)
  // Honest validators with more than a third of the power in a later round still move us there.
  for (const v of [validators[1]!, validators[2]!]) m.handle({ kind: 'vote', vote: vote(v, 1, 7) })
  assert.equal(m.round, 7)
})
