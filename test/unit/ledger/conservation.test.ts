import { test } from 'node:test'
import assert from 'node:assert/strict'
import { baseRegistry, signTx, type SignedTx } from '../../../src/ledger/tx/index.js'
import { runBody } from '../../../src/ledger/executor.js'
import { genesisState } from '../../../src/ledger/genesis.js'
import { getAccount, getSupply } from '../../../src/ledger/state/access.js'
import { signVote, VoteType } from '../../../src/ledger/consensus/vote.js'
import { books, checkBooks, genesisSupply } from '../../../src/ledger/economics/index.js'
import { testGenesis, testSigner } from '../../helpers/chainSim.js'

const registry = baseRegistry()
const signers = [0, 1, 2, 3, 4].map(testSigner)
const genesis = testGenesis(signers.slice(0, 3))

test('total supply always equals the sum of balances, stakes, unbonding stake, escrows and held rewards', () => {
  const state = genesisState(genesis)
  let seed = 7
  const rand = (n: number): number => (seed = (seed * 48271) % 2147483647) % n
  const nonces = new Map<string, number>()
  for (let height = 1; height <= 60; height++) {
    const txs: SignedTx[] = []
    for (let i = 0; i < 10; i++) {
      const from = signers[rand(3)]!
      const nonce = nonces.get(from.peerId) ?? getAccount(state, from.peerId).nonce
      const kind = rand(4)
      const fields =
        kind === 0
          ? { type: 'Stake', body: { amount: BigInt(1 + rand(500)) } }
          : kind === 1
            ? { type: 'Unstake', body: { amount: BigInt(1 + rand(500)) } }
            : { type: 'Transfer', body: { to: signers[rand(5)]!.peerId, amount: BigInt(1 + rand(5000)) } }
      txs.push(
        signTx(registry, genesis.chainId, from, { ...fields, nonce, fee: BigInt(1 + rand(3)) } as never),
      )
      nonces.set(from.peerId, nonce + 1)
    }
    // One double-sign at height 30: its stake is slashed and burned.
    const evidence =
      height === 30
        ? [
            {
              a: signVote(genesis.chainId, signers[2]!, {
                type: VoteType.Prevote,
                height: 3,
                round: 0,
                blockHash: null,
              }),
              b: signVote(genesis.chainId, signers[2]!, {
                type: VoteType.Prevote,
                height: 3,
                round: 0,
                blockHash: new Uint8Array(32).fill(1),
              }),
            },
          ]
        : []
    const run = runBody(
      state,
      { chainId: genesis.chainId, registry },
      {
        height,
        time: 1_000_000 + height * 1000,
        prevHash: new Uint8Array(32),
        proposer: signers[0]!.peerId,
        txs,
        evidence,
      },
      false,
    )
    state.commit(run.overlay)
    nonces.clear()
    const supply = getSupply(state)
    assert.equal(books(state).holdings, supply.total, `height ${height}`)
    assert.equal(supply.total, 3_030_000n - supply.burned)
    assert.equal(checkBooks(state, genesisSupply(genesis)), undefined, `height ${height}`)
  }
  assert.ok(getSupply(state).burned > 0n, 'the slash was burned and accounted for')
})
