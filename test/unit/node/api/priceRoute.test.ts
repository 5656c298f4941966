import { test } from 'node:test'
import assert from 'node:assert/strict'
import { genesisState, type Genesis } from '../../../../src/ledger/genesis.js'
import { Overlay } from '../../../../src/ledger/state/state.js'
import { putPriceVote } from '../../../../src/ledger/price/index.js'
import { HttpError, type ApiContext } from '../../../../src/node/api/index.js'
import { priceRoute, type PriceView } from '../../../../src/node/api/routes/price.js'
import { TEST_PARAMS, testSigner, TEST_RACE } from '../../../helpers/chainSim.js'

const [a, b, c] = [testSigner(0), testSigner(1), testSigner(2)]
const race = TEST_RACE
const genesis: Genesis = {
  chainId: 'cordex-price-api',
  time: 0,
  params: TEST_PARAMS,
  accounts: [],
  validators: [
    { id: a.peerId, power: 3 },
    { id: b.peerId, power: 2 },
    { id: c.peerId, power: 2 },
  ],
  race,
  inference: { unitPrice: 50n, models: [['m@0123456789abcdef', 1]] },
}

async function get(g: Genesis, edit: (o: Overlay) => void = () => {}, priceVote = '0'): Promise<PriceView> {
  const state = new Overlay(genesisState(g))
  edit(state)
  const ctx = {
    chain: { replica: { state } },
    signer: b,
    config: { inference: { priceVote } },
  } as unknown as ApiContext
  const r = priceRoute(ctx)
  return (await r.handler({
    method: r.method,
    path: r.path,
    params: {},
    query: new URLSearchParams(),
    body: undefined,
    signal: new AbortController().signal,
  })) as PriceView
}

test('GET /price: the price, each weighted peer’s vote or default, and the next price', async () => {
  const view = await get(
    genesis,
    (o) => {
      putPriceVote(o, a.peerId, { price: 90n, height: 4 })
      putPriceVote(o, b.peerId, { price: 70n, height: 5 })
    },
    '70',
  )
  assert.equal(view.epoch, 0)
  assert.equal(view.current, '50')
  assert.equal(view.totalWeight, 7)
  const byPeer = new Map(view.votes.map((v) => [v.peer, v]))
  assert.deepEqual(byPeer.get(a.peerId), {
    peer: a.peerId,
    weight: 3,
    price: '90',
    recorded: true,
    height: 4,
  })
  assert.deepEqual(byPeer.get(c.peerId), {
    peer: c.peerId,
    weight: 2,
    price: '50',
    recorded: false,
    height: null,
  })
  // 50 (2), 70 (2), 90 (3): 50 and 70 hold 4 of 7.
  assert.equal(view.next, '70')
  assert.deepEqual(view.me, { peerId: b.peerId, configured: '70', recorded: '70' })
  const none = await get(genesis)
  assert.equal(none.next, '50', 'nobody voted: the price stays')
  assert.deepEqual(none.me, { peerId: b.peerId, configured: null, recorded: null })
})

test('GET /price on a chain that takes no tasks is 404 NO_INFERENCE', async () => {
  const { inference: _, ...noTasks } = genesis
  await assert.rejects(
    get(noTasks),
    (err: unknown) => err instanceof HttpError && err.status === 404 && err.code === 'NO_INFERENCE',
  )
})
