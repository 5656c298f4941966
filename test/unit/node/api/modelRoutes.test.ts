import { test } from 'node:test'
import assert from 'node:assert/strict'
import { genesisState, type Genesis } from '../../../../src/ledger/genesis.js'
import { Overlay } from '../../../../src/ledger/state/state.js'
import { baseRegistry, type SignedTx } from '../../../../src/ledger/tx/index.js'
import { HttpError, type ApiContext, type ApiRoute } from '../../../../src/node/api/index.js'
import {
  modelGovernanceRoute,
  modelProposeRoute,
  modelVoteRoute,
} from '../../../../src/node/api/routes/models.js'
import type { ModelGovernanceView } from '../../../../src/node/api/views/modelsView.js'
import { TEST_PARAMS, testSigner, TEST_RACE } from '../../../helpers/chainSim.js'

// The model governance routes over a ledger state in memory, with a chain whose queue of own
// transactions runs the transaction's own rules against that state, as ChainService.sendTx does.

const registry = baseRegistry()
const [a, b] = [testSigner(0), testSigner(1)]
const APPROVED = 'kjv-small@0123456789abcdef'
const NEW = 'kjv-tiny@fedcba9876543210'
const race = TEST_RACE
const genesis: Genesis = {
  chainId: 'cordex-models',
  time: 0,
  params: TEST_PARAMS,
  accounts: [a, b].map((s) => ({ id: s.peerId, balance: 1_000_000n, stake: 0n })),
  validators: [
    { id: a.peerId, power: 3 },
    { id: b.peerId, power: 1 },
  ],
  race,
  inference: { unitPrice: 1n, models: [[APPROVED, 10]] },
  governance: { modelDeposit: 500n, modelVotingEpochs: 2, maxPendingModels: 4 },
}

/** A daemon over one state; `as(signer)` changes whose key signs what it sends. */
function world(signer = b) {
  const state = new Overlay(genesisState(genesis))
  let me = signer
  let nonce = 0
  const chain = {
    replica: { state },
    queueTx: (type: string, body: unknown) => {
      const done = (async (): Promise<SignedTx> => {
        const tx = { type, from: me.peerId, nonce: nonce++, body, hashHex: 'f'.repeat(64) } as SignedTx
        const child = state.child()
        registry.get(type)!.apply(child, tx, { height: 5 } as never)
        state.absorb(child)
        return tx
      })()
      return { sent: undefined, done }
    },
  }
  const ctx = { chain } as unknown as ApiContext
  const call = (route: (c: ApiContext) => ApiRoute, params: Record<string, string>, body?: unknown) => {
    const r = route(ctx)
    return r.handler({
      method: r.method,
      path: r.path,
      params,
      query: new URLSearchParams(),
      body,
      signal: new AbortController().signal,
    })
  }
  const as = (s: typeof a): void => {
    me = s
  }
  return { state, call, as }
}

async function refused(p: Promise<unknown>, status: number, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof HttpError, String(err))
    assert.equal(err.status, status, err.message)
    assert.equal(err.code, code)
    return true
  })
}

test('propose, vote and list: a pending proposal shows its votes and weight shares until it is approved', async () => {
  const w = world(b)
  const sent = (await w.call(modelProposeRoute, {}, { model: NEW, unitsPerToken: 495 })) as Record<
    string,
    unknown
  >
  assert.deepEqual([sent.model, sent.unitsPerToken, sent.deposit], [NEW, 495, '500'])
  // b holds 1 of 4.
  await w.call(modelVoteRoute, { id: NEW }, { approve: true })
  let v = (await w.call(modelGovernanceRoute, {})) as ModelGovernanceView
  assert.equal(v.totalWeight, 4)
  assert.deepEqual(
    v.approved.map((m) => m.id),
    [APPROVED],
  )
  assert.equal(v.pending.length, 1)
  const p = v.pending[0]!
  assert.deepEqual([p.id, p.unitsPerToken, p.proposer, p.deposit, p.closesAt], [NEW, 495, b.peerId, '500', 2])
  assert.deepEqual(p.votes, [{ peer: b.peerId, approve: true, weight: 1 }])
  assert.deepEqual(p.yes, { weight: 1, bps: 2500, fraction: 0.25 })
  assert.deepEqual(p.no, { weight: 0, bps: 0, fraction: 0 })

  // a (3 of 4) approves.
  w.as(a)
  await w.call(modelVoteRoute, { id: NEW }, { approve: true })
  v = (await w.call(modelGovernanceRoute, {})) as ModelGovernanceView
  assert.deepEqual(
    v.approved.map((m) => [m.id, m.unitsPerToken]),
    [
      [APPROVED, 10],
      [NEW, 495],
    ],
  )
  assert.deepEqual(v.pending, [])
  assert.deepEqual(
    v.recent.map((d) => [d.id, d.outcome]),
    [[NEW, 'approved']],
  )
})

test("the chain's refusals become HTTP errors", async () => {
  const outsider = testSigner(5)
  const w = world(outsider)
  await refused(w.call(modelProposeRoute, {}, { model: 'nope', unitsPerToken: 1 }), 400, 'invalid_value')
  await refused(w.call(modelProposeRoute, {}, { model: NEW, unitsPerToken: 0 }), 400, 'invalid_value')
  await refused(w.call(modelProposeRoute, {}, [1]), 400, 'invalid_value')
  await refused(w.call(modelProposeRoute, {}, { model: APPROVED, unitsPerToken: 1 }), 409, 'already_approved')
  await refused(w.call(modelProposeRoute, {}, { model: NEW, unitsPerToken: 1 }), 402, 'insufficient_funds')
  await refused(w.call(modelVoteRoute, { id: NEW }, { approve: true }), 404, 'not_found')
  await refused(w.call(modelVoteRoute, { id: NEW }, { approve: 'yes' }), 400, 'invalid_value')
  w.as(b)
  await w.call(modelProposeRoute, {}, { model: NEW, unitsPerToken: 1 })
  await refused(w.call(modelProposeRoute, {}, { model: NEW, unitsPerToken: 1 }), 409, 'already_pending')
  await refused(w.call(modelVoteRoute, { id: APPROVED }, { approve: true }), 409, 'already_approved')
  w.as(outsider)
  await refused(w.call(modelVoteRoute, { id: NEW }, { approve: true }), 403, 'no_weight')
})
