import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Overlay } from '../../../src/ledger/state/state.js'
import { putHost } from '../../../src/ledger/state/access.js'
import { TaskKeys, type HostAnnounceBody } from '../../../src/ledger/index.js'
import { HostAnnouncer } from '../../../src/node/infer/announcer.js'
import type { ChainService } from '../../../src/node/chain/service.js'
import { silentLogger } from '../../../src/util/logger.js'
import { testSigner } from '../../helpers/chainSim.js'

// A host announces only the models the chain has approved (SPEC 7), and announces a model as soon
// as the block that approves it is committed.

const me = testSigner(0).peerId
const APPROVED = 'kjv-small@0123456789abcdef'
const VOTED = 'kjv-tiny@fedcba9876543210'

function setup() {
  const state = new Overlay({ get: () => undefined })
  state.set(TaskKeys.inference, { unitPrice: 1n, models: [[APPROVED, 10]] })
  const listeners = new Set<() => void>()
  const sent: HostAnnounceBody[] = []
  const head = { height: 1 }
  const chain = {
    replica: { state, head },
    onCommit: (l: () => void) => listeners.add(l),
    offCommit: (l: () => void) => listeners.delete(l),
    sendTx: (type: string, body: HostAnnounceBody) => {
      assert.equal(type, 'HostAnnounce')
      sent.push(body)
    },
  }
  const announcer = new HostAnnouncer(
    { chain: chain as unknown as ChainService, log: silentLogger(), me },
    () => ({ models: [APPROVED, VOTED], priceVote: 1n, fingerprint: 'f', addrs: [] }),
  )
  /** A block is committed: what the announcer sent would have landed. */
  const commit = (landed: boolean): void => {
    head.height++
    const last = sent.at(-1)
    if (landed && last !== undefined) putHost(state, me, { ...last, since: 1 })
    for (const l of listeners) l()
  }
  return { state, sent, announcer, commit }
}

test('a host announces only approved models, and a newly approved one at the next block', () => {
  const { state, sent, announcer, commit } = setup()
  announcer.start()
  assert.deepEqual(
    sent.map((b) => b.models),
    [[APPROVED]],
    'the model still waiting for its vote is not announced',
  )
  commit(true)
  commit(true)
  assert.equal(sent.length, 1, 'nothing changed: nothing sent')
  // The vote passes.
  state.set(TaskKeys.inference, {
    unitPrice: 1n,
    models: [
      [APPROVED, 10],
      [VOTED, 5],
    ],
  })
  commit(false)
  assert.deepEqual(sent.at(-1)?.models, [APPROVED, VOTED], 'sent at once, not after the resend delay')
  commit(false)
  assert.equal(sent.length, 2, 'pending: not sent again before the resend delay')
  announcer.stop()
})

test('a host none of whose models is approved sends no announcement', () => {
  const { state, sent, announcer } = setup()
  state.set(TaskKeys.inference, { unitPrice: 1n, models: [] })
  announcer.start()
  assert.deepEqual(sent, [])
  announcer.stop()
})
