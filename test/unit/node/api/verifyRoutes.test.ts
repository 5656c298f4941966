import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Level } from 'level'
import { Overlay } from '../../../../src/ledger/state/state.js'
import { putAccount, putHost } from '../../../../src/ledger/state/access.js'
import { putEpoch } from '../../../../src/ledger/epoch/access.js'
import type { EpochState } from '../../../../src/ledger/epoch/records.js'
import { TxRejectedError, type SignedTx } from '../../../../src/ledger/index.js'
import { report } from '../../../../src/ledger/tx/types/report.js'
import {
  VerifyKeys,
  addHeld,
  putAudit,
  putChecked,
  putStanding,
  type CheckedTask,
  type VerifyParams,
} from '../../../../src/ledger/verify/index.js'
import { OwnTxError } from '../../../../src/node/chain/ownTxs.js'
import { HttpError, type ApiContext, type ApiRoute } from '../../../../src/node/api/index.js'
import { taskRoute, reportRoute } from '../../../../src/node/api/routes/tasks.js'
import { hostRoute } from '../../../../src/node/api/routes/hosts.js'
import { TaskStore, type TaskRecordJson } from '../../../../src/node/infer/taskStore.js'
import { testSigner } from '../../../helpers/chainSim.js'
import { tempDir } from '../../../helpers/cli.js'

// The verification routes over a ledger state built in memory, a real TaskStore, and a chain
// whose queue of own transactions runs the Report's own rules against that state.

const me = testSigner(0).peerId
const exec = testSigner(1).peerId
const verifier = testSigner(2).peerId
const stranger = testSigner(3).peerId
const vp: VerifyParams = {
  minCheckRateBps: 2000,
  reputationCap: 4,
  fraudSlashBps: 1000,
  fraudJailEpochs: 2,
  dutyToleranceBps: 0,
  reportDeposit: 500n,
  reportRewardBps: 1000,
  disputeEpochs: 2,
}
const id = (n: number): string => n.toString(16).padStart(64, '0')

function checked(over: Partial<CheckedTask> = {}): CheckedTask {
  return {
    epoch: 5,
    executor: exec,
    client: me,
    model: 'm@0',
    fee: 100n,
    rateBps: 10_000,
    others: 2,
    receipt: new Uint8Array(32),
    height: 50,
    status: 'open',
    votes: [],
    reportDeposit: 0n,
    parked: false,
    penalty: null,
    ...over,
  }
}

function record(taskId: string, epoch: number): TaskRecordJson {
  return {
    taskId,
    time: 1,
    epoch,
    model: 'm@0',
    executor: exec,
    request: {},
    route: { seed: '', candidates: [], order: [], attempts: [] },
    prompt: 'p',
    output: 'o',
    tokens: [1],
    receipt: {},
    receiptSig: '',
    cost: '100',
  }
}

interface World {
  state: Overlay
  store: TaskStore
  sent: SignedTx[]
  /** What the queue does instead of checking the Report (null: check it). */
  queueFails: Error | null
  call(route: (ctx: ApiContext) => ApiRoute, params: Record<string, string>, body?: unknown): Promise<unknown>
}

async function world(fn: (w: World) => Promise<void>): Promise<void> {
  const dir = tempDir()
  const db = new Level<string, Uint8Array>(join(dir.path, 'db'), { valueEncoding: 'view' })
  try {
    const store = new TaskStore(db, 100)
    await store.open()
    const state = new Overlay({ get: () => undefined })
    putEpoch(state, { number: 6 } as EpochState)
    state.set(VerifyKeys.verifyParams, vp)
    const w: World = {
      state,
      store,
      sent: [],
      queueFails: null,
      call: async (route, params, body) => {
        const r = route(ctx)
        return r.handler({
          method: r.method,
          path: r.path,
          params,
          query: new URLSearchParams(),
          body,
          signal: new AbortController().signal,
        })
      },
    }
    const chain = {
      replica: { state },
      queueTx: (type: string, b: { taskId: Uint8Array }) => {
        assert.equal(type, 'Report')
        const done = (async (): Promise<SignedTx> => {
          if (w.queueFails !== null) throw w.queueFails
          // As ChainService.sendTx checks before signing: the rules against the state.
          report.apply(state.child(), { from: me, body: b } as never, {} as never)
          const tx = { hashHex: 'f'.repeat(64), nonce: w.sent.length, from: me } as SignedTx
          w.sent.push(tx)
          return tx
        })()
        return { sent: undefined, done }
      },
    }
    const ctx = { chain, tasks: store } as unknown as ApiContext
    await fn(w)
  } finally {
    await db.close()
    dir.cleanup()
  }
}

async function refused(p: Promise<unknown>, status: number, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof HttpError, String(err))
    assert.equal(err.status, status, err.message)
    assert.equal(err.code, code)
    return true
  })
}

test('GET /tasks/:id: 400 for a malformed id, 404 for a task neither here nor on the chain', () =>
  world(async (w) => {
    await refused(w.call(taskRoute, { id: 'xyz' }), 400, 'invalid_value')
    await refused(w.call(taskRoute, { id: id(1) }), 404, 'not_found')
  }))

test("GET /tasks/:id: another gateway's task on the chain is shown from the chain alone", () =>
  world(async (w) => {
    putChecked(w.state, id(2), checked({ client: stranger, status: 'disputed' }))
    const t = (await w.call(taskRoute, { id: id(2) })) as Record<string, unknown>
    assert.equal(t.taskId, id(2))
    assert.equal(t.verification, 'pending')
    assert.equal((t.chain as { client: string }).client, stranger)
    assert.equal(t.output, undefined)
  }))

test("GET /tasks/:id: the gateway's record with the chain's; a final status is saved and outlives the chain's record", () =>
  world(async (w) => {
    await w.store.put(record(id(3), 5))
    let t = (await w.call(taskRoute, { id: id(3) })) as Record<string, unknown>
    assert.equal(t.verification, 'pending', 'settling: not on the chain yet')
    assert.equal(t.chain, null)
    assert.equal(t.output, 'o')

    putChecked(w.state, id(3), checked())
    t = (await w.call(taskRoute, { id: id(3) })) as Record<string, unknown>
    assert.equal(t.verification, 'pending')
    assert.equal((t.chain as { status: string }).status, 'open')
    assert.equal((await w.store.get(id(3)))?.verification, undefined, 'nothing final to save yet')

    const vote = {
      verifier,
      ok: false,
      reason: 'token' as const,
      position: 2,
      expected: 7,
      actual: 9,
      escalation: false,
    }
    putChecked(w.state, id(3), checked({ status: 'fraud', votes: [vote] }))
    t = (await w.call(taskRoute, { id: id(3) })) as Record<string, unknown>
    assert.equal(t.verification, 'fraud')
    assert.deepEqual((t.chain as { votes: unknown[] }).votes, [vote])
    assert.equal((await w.store.get(id(3)))?.verification, 'fraud')

    // The chain prunes the record; long after, the gateway still knows.
    putChecked(w.state, id(3), null)
    putEpoch(w.state, { number: 40 } as EpochState)
    t = (await w.call(taskRoute, { id: id(3) })) as Record<string, unknown>
    assert.equal(t.verification, 'fraud')
    assert.equal(t.chain, null)

    await w.store.put(record(id(4), 5))
    t = (await w.call(taskRoute, { id: id(4) })) as Record<string, unknown>
    assert.equal(t.verification, 'unknown', 'dropped from the chain before anyone read it')
  }))

test('POST /tasks/:id/report: sends the Report and answers its hash and deposit', () =>
  world(async (w) => {
    putChecked(w.state, id(5), checked())
    putAudit(w.state, { epoch: 5, weights: [], tasks: 1, duties: [], skipped: [], closed: false })
    putAccount(w.state, me, { balance: 10_000n, nonce: 0, stake: 0n })
    const r = await w.call(reportRoute, { id: id(5) })
    assert.deepEqual(r, { taskId: id(5), hash: 'f'.repeat(64), nonce: 0, from: me, deposit: '500' })
    assert.equal(w.sent.length, 1)
    await refused(w.call(reportRoute, { id: id(5) }, [1]), 400, 'invalid_value')
  }))

test("POST /tasks/:id/report: the chain's refusals as HTTP errors", () =>
  world(async (w) => {
    const open = { epoch: 5, weights: [], tasks: 1, duties: [], skipped: [], closed: false }
    putAudit(w.state, open)
    putAccount(w.state, me, { balance: 10_000n, nonce: 0, stake: 0n })
    await refused(w.call(reportRoute, { id: id(6) }), 404, 'not_found')
    putChecked(w.state, id(6), checked({ client: stranger }))
    await refused(w.call(reportRoute, { id: id(6) }), 403, 'not_client')
    putChecked(w.state, id(6), checked({ status: 'cleared' }))
    await refused(w.call(reportRoute, { id: id(6) }), 409, 'already_decided')
    putChecked(w.state, id(6), checked({ status: 'disputed', reportDeposit: 500n }))
    await refused(w.call(reportRoute, { id: id(6) }), 409, 'already_reported')
    putChecked(w.state, id(6), checked())
    putAccount(w.state, me, { balance: 499n, nonce: 0, stake: 0n })
    await refused(w.call(reportRoute, { id: id(6) }), 402, 'insufficient_funds')
    putAudit(w.state, { ...open, closed: true })
    await refused(w.call(reportRoute, { id: id(6) }), 409, 'audit_closed')
    w.queueFails = new OwnTxError('TIMEOUT', 'no room', { lane: 'new' })
    await refused(w.call(reportRoute, { id: id(6) }), 503, 'busy')
    w.queueFails = new TxRejectedError('FEE_TOO_LOW', 'fee')
    await refused(w.call(reportRoute, { id: id(6) }), 400, 'FEE_TOO_LOW')
    w.state.delete(VerifyKeys.verifyParams)
    await refused(w.call(reportRoute, { id: id(6) }), 409, 'no_verification')
    assert.equal(w.sent.length, 0)
  }))

test('GET /hosts/:id: standing, check rate, held rewards, jail, announcement and duty', () =>
  world(async (w) => {
    await refused(w.call(hostRoute, { id: 'not-a-peer' }), 400, 'invalid_peer_id')
    await refused(w.call(hostRoute, { id: stranger }), 404, 'not_found')

    putHost(w.state, exec, {
      models: ['m@0'],
      priceVote: 3n,
      fingerprint: 'fp',
      addrs: ['/ip4/1.2.3.4'],
      since: 7,
    })
    putStanding(w.state, exec, { reputation: 2, jailedUntilEpoch: 9, frauds: [4], falseAccusations: 1 })
    addHeld(w.state, exec, 5, 70n)
    addHeld(w.state, exec, 6, 30n)
    putAudit(w.state, {
      epoch: 5,
      weights: [
        [exec, 3],
        [verifier, 1],
      ],
      tasks: 0,
      duties: [[exec, 4, 3]],
      skipped: [exec],
      closed: true,
    })
    putAudit(w.state, { epoch: 6, weights: [[exec, 3]], tasks: 0, duties: [], skipped: [], closed: false })
    const h = await w.call(hostRoute, { id: exec })
    assert.deepEqual(h, {
      id: exec,
      epoch: 6,
      host: { models: ['m@0'], priceVote: '3', fingerprint: 'fp', addrs: ['/ip4/1.2.3.4'], since: 7 },
      reputation: 2,
      reputationCap: 4,
      // Halfway to the cap: halfway from 10,000 to 2,000 bps.
      checkRate: { bps: 6000, fraction: 0.6 },
      held: '100',
      jailedUntilEpoch: 9,
      jailed: true,
      frauds: [4],
      falseAccusations: 1,
      audits: [
        { epoch: 6, closed: false, weight: 3, revealed: false, assigned: null, done: null, skipped: null },
        { epoch: 5, closed: true, weight: 3, revealed: true, assigned: 4, done: 3, skipped: true },
      ],
    })

    // A verifier that announced nothing is known by its weight in an audit.
    const v = (await w.call(hostRoute, { id: verifier })) as {
      host: unknown
      audits: unknown[]
      jailed: boolean
    }
    assert.equal(v.host, null)
    assert.equal(v.jailed, false)
    assert.equal(v.audits.length, 1)
  }))
