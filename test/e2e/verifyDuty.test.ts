import { test } from 'node:test'
import assert from 'node:assert/strict'
import { cordexJson, waitFor } from '../helpers/cli.js'
import {
  account,
  api,
  dataDir,
  decided,
  epoch,
  feeOf,
  genesis,
  honest,
  host,
  idOf,
  openai,
  peers,
  recheat,
  task,
  taskOn,
  useVerifyDevnet,
  type Completion,
} from '../helpers/verifyDevnet.js'

// Verification on a devnet of 5 daemons (test/helpers/verifyDevnet.ts): false accusations, client
// reports upheld and rejected, skipped checks, and never an honest task convicted.

useVerifyDevnet({ mode: 'wrongTokens', rate: 1 })

test('a verifier that accuses honest hosts loses its reputation', async () => {
  await recheat(4, { mode: 'falseAccuse' })
  // Peer 4 accuses every task it is drawn for: once honest peers pass one, the accusation costs it.
  await waitFor(
    'a rejected accusation by peer 4',
    async () => {
      if ((await host(4)).falseAccusations > 0) return true
      const c = (await openai(1).completions.create({
        model: 'kjv-small',
        prompt: 'And the LORD said',
        max_tokens: 8,
      } as never)) as unknown as Completion
      if (c.cordex.executor !== idOf(3)) honest.push(c.cordex.task_id)
      return undefined
    },
    180_000,
  )
  assert.equal((await host(4)).reputation, 0)
})

test('a client report is upheld against a cheat and rejected against an honest host, the deposit moving as stated', async () => {
  await recheat(4, null)
  const deposit = BigInt(genesis.verification.reportDeposit)
  const settled = (id: string): Promise<true> =>
    waitFor('settled', async () => ((await task(0, id)).chain !== null ? true : undefined))

  // Rejected: an honest task, reported as soon as it is settled; the deposit goes to its passers.
  const fine = await taskOn(1, 0, { temperature: 0, max_tokens: 12 }, honest)
  await settled(fine.cordex.task_id)
  const before = await Promise.all([0, 1, 2, 3, 4].map(account))
  const rep = await cordexJson<{ deposit: string }>(['report', fine.cordex.task_id, '--data-dir', dataDir(0)])
  assert.equal(BigInt(rep.deposit), deposit)
  const cleared = await decided(0, fine.cordex.task_id)
  assert.equal(cleared.chain!.status, 'cleared')
  const passers = cleared.chain!.votes.filter((v) => v.ok).map((v) => v.verifier)
  assert.ok(passers.length > 0 && cleared.chain!.votes.every((v) => v.ok))
  // Each passer got deposit / n of it (its balance may have grown by other pay besides; the client,
  // which may pass its own reported task, also earns as a host, so it is left out here).
  for (const p of passers.filter((x) => x !== idOf(0))) {
    const i = peers.findIndex((x) => x.peerId === p)
    assert.ok((await account(i)).balance >= before[i]!.balance + deposit / BigInt(passers.length))
  }

  // Upheld: a cheat's task, reported through the API the moment its gateway has queued the
  // receipt (404 until then; 503 while its queue is full): the Report then follows the receipt in the gateway's queue of own
  // transactions, so the checkers, who start when the receipt is in a block, rarely decide first.
  for (let i = 0; i < 6; i++) {
    const cheat = await taskOn(3, 0, { temperature: 0, max_tokens: 12 }, honest)
    const id = cheat.cordex.task_id
    const r = await waitFor('the receipt queued', async () => {
      const res = await api(0).post<{ deposit?: string; error?: { code: string } }>(`/tasks/${id}/report`)
      return res.status === 404 || res.status === 503 ? undefined : res
    })
    const t = await decided(0, id)
    if (r.status !== 200) {
      assert.equal(r.status, 409, JSON.stringify(r.body)) // decided before the report: no deposit taken
      continue
    }
    assert.equal(BigInt(r.body.deposit!), deposit)
    assert.equal(t.chain!.status, 'fraud')
    assert.equal(t.chain!.reported, true)
    const p = t.chain!.penalty!
    assert.equal(BigInt(p.refunded), feeOf(cheat))
    assert.equal(
      BigInt(p.reporterReward),
      (BigInt(p.forfeited) * BigInt(genesis.verification.reportRewardBps)) / 10_000n,
    )
    return
  }
  assert.fail('every report came after its task was decided')
})

test('a peer that skips its checks loses its rewards for the epoch, one that does them keeps them; no honest task was convicted', async () => {
  await recheat(3, null)
  await recheat(4, { mode: 'skipChecks' })
  const start = await epoch()
  // Tasks through several gateways give every peer checks and rewards.
  const audit = await waitFor(
    'an audit in which peer 4 was assigned checks',
    async () => {
      const found = (await host(4)).audits.find((a) => a.epoch > start && a.closed && (a.assigned ?? 0) > 0)
      if (found !== undefined) return found
      for (const g of [0, 1, 2]) {
        const c = (await openai(g).completions.create({
          model: 'kjv-small',
          prompt: 'And the LORD said',
          max_tokens: 8,
        } as never)) as unknown as Completion
        honest.push(c.cordex.task_id)
      }
      return undefined
    },
    240_000,
  )
  assert.equal(audit.done, 0)
  assert.equal(audit.skipped, true, 'it forfeited the epoch’s rewards')
  const dutiful = (await host(1)).audits.find((a) => a.epoch === audit.epoch)
  assert.equal(dutiful?.skipped, false, 'the dutiful peer kept its rewards for the same epoch')
  // No honest host's task was ever convicted.
  for (const id of honest) {
    // Pruned from state by now, and kept by another gateway, it is a 404 here: nothing to see.
    const t = await task(0, id)
    if (t.chain != null) assert.notEqual(t.chain.status, 'fraud', `honest task ${id}`)
  }
})
