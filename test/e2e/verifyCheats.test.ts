import { test } from 'node:test'
import assert from 'node:assert/strict'
import { cordex, waitFor } from '../helpers/cli.js'
import {
  STAKE,
  account,
  anyTask,
  api,
  completions,
  convictOne,
  dataDir,
  epoch,
  genesis,
  idOf,
  peers,
  round,
  task,
  useVerifyDevnet,
  watchPayouts,
} from '../helpers/verifyDevnet.js'
import { expectedPayouts, heldAtClose, payoutDifferences } from '../helpers/payouts.js'
import type { PayoutView, SupplyView } from '../../src/node/api/routes/supply.js'
import type { ChainTaskView } from '../../src/node/index.js'

// Verification on a devnet of 5 daemons (test/helpers/verifyDevnet.ts): an executor that returns
// wrong tokens, or serves a substitute model, is convicted with the penalties the rules give; then
// every payout of the run is recomputed from the ledger.

useVerifyDevnet({ mode: 'wrongTokens', rate: 0.5 })
const watch = watchPayouts()

test('a host returning wrong tokens is caught, convicted and penalized as the rules say; cordex task shows the verdicts', async () => {
  assert.equal((await account(3)).stake, STAKE)
  const { c, t } = await convictOne({ temperature: 0.8, max_tokens: 24 })
  assert.equal(c.cordex.verification, 'pending', 'the openai package sees the verification field')
  const evidence = t.chain!.votes.find((v) => !v.ok)!
  assert.equal(evidence.reason, 'token', 'the evidence names the first wrong token')
  assert.notEqual(evidence.expected, evidence.actual)
  const shown = await cordex(['task', c.cordex.task_id, '--data-dir', dataDir(0)])
  assert.equal(shown.code, 0, shown.stderr)
  assert.match(shown.stdout, /fraud/)
  assert.match(shown.stdout, new RegExp(evidence.verifier))
})

test('a host serving a substitute model is convicted', async () => {
  await round({ mode: 'substituteModel' }, { temperature: 0, max_tokens: 24 })
})

// Issue 12: over the run (several epochs of traffic, a cheater convicted twice), every host's
// payout is what docs/economics.md gives, recomputed here from the ledger (test/helpers/payouts.ts),
// and every peer counted the books after every block (useVerifyDevnet's `after` checks).
test('every host of every epoch is paid what the rules give, to the base unit', async (t) => {
  // Traffic over several epochs: the rounds above may fit in one or two, so one more task in each
  // new epoch until honest hosts' tasks (a convicted one pays nobody) have settled in three.
  const settled = async (id: string): Promise<ChainTaskView> =>
    waitFor(
      `task ${id.slice(0, 8)} settled`,
      async () => watch.tasks.get(id) ?? (await task(0, id)).chain ?? undefined,
      60_000,
    )
  const paidIn = async (ids: string[]): Promise<number[]> =>
    (await Promise.all(ids.map(settled))).filter((x) => x.executor !== idOf(3)).map((x) => x.epoch)
  const spanned = new Set(await paidIn(completions.map((c) => c.cordex.task_id)))
  while (spanned.size < 3) {
    const now = await epoch()
    if (spanned.has(now))
      await waitFor('the next epoch', async () => ((await epoch()) > now ? true : undefined), 60_000)
    const c = await anyTask(1 + (spanned.size % 2), { temperature: 0, max_tokens: 12 })
    for (const e of await paidIn([c.cordex.task_id])) spanned.add(e)
  }

  const ids = completions.map((c) => c.cordex.task_id)
  await waitFor(
    'the chain’s record of every task the file sent',
    async () => (ids.every((id) => watch.tasks.has(id)) ? true : undefined),
    60_000,
  )
  // The audit of epoch e closes, and pays, at the end of e + 1.
  const last = Math.max(...ids.map((id) => watch.tasks.get(id)!.epoch))
  await waitFor(
    `the payout of epoch ${last}`,
    async () => ((await api(0).get(`/ledger/payouts/${last}`)).status === 200 ? true : undefined),
    120_000,
  )
  await watch.stop()

  // The file's tasks are every task settled on the chain: nothing else paid a host.
  const head = (await api(0).get<{ height: number }>('/ledger/head')).body.height
  const receipts: string[] = []
  for (let h = 1; h <= head; h++) {
    const block = await api(0).get<{ txs: Array<{ hash: string; type: string; body: { taskId: string } }> }>(
      `/ledger/blocks/${h}`,
    )
    for (const tx of block.body.txs.filter((x) => x.type === 'TaskReceipt')) {
      if ((await api(0).get<{ ok: boolean }>(`/ledger/tx/${tx.hash}`)).body.ok) receipts.push(tx.body.taskId)
    }
  }
  assert.deepEqual([...receipts].sort(), [...ids].sort(), 'the tasks settled are the ones the file sent')
  const tasks = ids.map((id) => watch.tasks.get(id)!)
  // Each fee is what the client was told it used: tokens × units per token × unit price (the
  // price stays genesis's: every peer votes it).
  const model = genesis.inference.models[0]!
  completions.forEach((c, i) =>
    assert.equal(
      BigInt(tasks[i]!.fee),
      BigInt(c.usage.prompt_tokens + c.usage.completion_tokens) *
        BigInt(model.unitsPerToken) *
        BigInt(genesis.inference.unitPrice),
      `the fee of task ${ids[i]}`,
    ),
  )
  assert.ok(
    tasks.every((x) => x.auditClosed),
    'every task’s final record was seen',
  )

  // Every payout since genesis, and the supply after the last.
  const supply = (await api(0).get<SupplyView>('/ledger/supply')).body
  const paidUpTo = supply.economics!.lastPayout!.epoch
  const records: PayoutView[] = []
  for (let e = 0; e <= paidUpTo; e++) {
    const r = await api(0).get<PayoutView>(`/ledger/payouts/${e}`)
    assert.equal(r.status, 200, `the payout of epoch ${e} is kept`)
    records.push(r.body)
  }
  const expected = expectedPayouts(genesis, records, (e) => heldAtClose(e, tasks, watch), watch, peers.length)
  assert.deepEqual(payoutDifferences(expected, records), [])
  const minted = expected.reduce((s, x) => s + x.minted, 0n)
  assert.equal(BigInt(supply.minted), minted, 'the supply counts every payout’s mint since genesis')

  // What the run covered, so that the check above checked something.
  const withFees = expected.filter((x) => x.hosts.size > 0)
  t.diagnostic(
    `${records.length} payouts (epochs 0-${paidUpTo}), ${withFees.length} with fees, ` +
      `${expected.reduce((s, x) => s + x.hosts.size, 0)} host payouts, ${tasks.length} tasks, minted ${minted}`,
  )
  // (Traffic in three epochs at least, above; an epoch's fees can still all be forfeited.)
  assert.ok(withFees.length >= 2, `several epochs with fees, got ${withFees.length}`)
  assert.ok((watch.frauds.get(idOf(3)) ?? []).length >= 2, 'the cheater was convicted in the run')
  assert.ok(
    withFees.some((x) => [...x.hosts.values()].some((h) => h.subsidy > 0n)),
    'a host earned the subsidy',
  )
  // And it can fail: one host paid one base unit more is found.
  const i = records.findIndex((r) => r.hosts.length > 0)
  const off = structuredClone(records)
  off[i]!.hosts[0]!.subsidy = String(BigInt(off[i]!.hosts[0]!.subsidy) + 1n)
  assert.match(payoutDifferences(expected, off).join('\n'), /subsidy is \d+, the rules give \d+/)
})
