import { test } from 'node:test'
import assert from 'node:assert/strict'
import { genesisState, type Genesis } from '../../../src/ledger/genesis.js'
import { Overlay, type State } from '../../../src/ledger/state/state.js'
import { putPriceVote } from '../../../src/ledger/price/index.js'
import { getEpoch, putEpoch } from '../../../src/ledger/epoch/access.js'
import { silentLogger } from '../../../src/util/logger.js'
import { PriceVoter, type PriceVoterChain } from '../../../src/node/price/voter.js'
import { testGenesis, testSigner, TEST_RACE } from '../../helpers/chainSim.js'

const [me, other, idle] = [0, 1, 2].map(testSigner) as [
  ReturnType<typeof testSigner>,
  ReturnType<typeof testSigner>,
  ReturnType<typeof testSigner>,
]
const race = TEST_RACE
const genesis: Genesis = {
  ...testGenesis([me, other]),
  race,
  inference: { unitPrice: 5n, models: [['m@0123456789abcdef', 1]] },
}

/** A chain whose state the test edits, recording what the voter sends. */
function fakeChain(g: Genesis = genesis): PriceVoterChain & { state: State; sent: unknown[]; fail: boolean } {
  const chain = {
    state: genesisState(g),
    sent: [] as unknown[],
    fail: false,
    get replica() {
      return { state: chain.state }
    },
    onCommit: () => {},
    offCommit: () => {},
    sendTx(type: string, body: unknown) {
      if (chain.fail) throw new Error('mempool full')
      chain.sent.push([type, body])
      return {}
    },
  }
  return chain
}

function edit(state: State, fn: (o: Overlay) => void): void {
  const o = new Overlay(state)
  fn(o)
  state.commit(o)
}

const voter = (chain: PriceVoterChain, peer: string, price: bigint): PriceVoter =>
  new PriceVoter({ chain, log: silentLogger(), me: peer }, { price })

test('a weighted peer votes its configured price once, and again only in a later epoch while it differs', () => {
  const chain = fakeChain()
  const v = voter(chain, me.peerId, 9n)
  assert.equal(v.check(), true)
  assert.deepEqual(chain.sent, [['PriceVote', { price: 9n }]])
  assert.equal(v.check(), false, 'not twice in one epoch, even before it lands')
  // Next epoch, still not on the ledger (it failed to land): once more.
  edit(chain.state, (o) => putEpoch(o, { ...getEpoch(o)!, number: 1 }))
  assert.equal(v.check(), true)
  // Landed: nothing more to do, in this epoch or any later one.
  edit(chain.state, (o) => {
    putPriceVote(o, me.peerId, { price: 9n, height: 3 })
    putEpoch(o, { ...getEpoch(o)!, number: 2 })
  })
  assert.equal(v.check(), false)
  assert.equal(chain.sent.length, 2)
})

test('no vote without weight, without a configured price, on a chain without tasks, or when the recorded one matches', () => {
  const chain = fakeChain()
  assert.equal(voter(chain, idle.peerId, 9n).check(), false, 'no weight: the vote would count for nothing')
  assert.equal(voter(chain, me.peerId, 0n).check(), false, '0: no vote, the peer follows the price')
  edit(chain.state, (o) => putPriceVote(o, other.peerId, { price: 9n, height: 1 }))
  assert.equal(voter(chain, other.peerId, 9n).check(), false, 'already recorded')
  const { inference: _, ...noTasks } = genesis
  assert.equal(voter(fakeChain(noTasks), me.peerId, 9n).check(), false)
  assert.deepEqual(chain.sent, [])
})

test('a vote that cannot be sent is retried in the next epoch, not at every block', () => {
  const chain = fakeChain()
  chain.fail = true
  const v = voter(chain, me.peerId, 9n)
  assert.equal(v.check(), false)
  chain.fail = false
  assert.equal(v.check(), false)
  edit(chain.state, (o) => putEpoch(o, { ...getEpoch(o)!, number: 1 }))
  assert.equal(v.check(), true)
})
