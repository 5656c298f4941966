import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { TestDaemon } from '../helpers/daemon.js'
import { tempDir, waitFor } from '../helpers/cli.js'
import { startDevnet, type RunningDevnet } from '../helpers/devnet.js'
import { taskFee } from '../../src/ledger/index.js'
import type { ChainTaskView, SyntheticView } from '../../src/node/index.js'

// Synthetic tasks (issue 12, item 6; docs/economics.md "Synthetic tasks") on a devnet of 3
// daemons that all send them below 4 tasks an epoch: while the network is idle they appear,
// escrowed, routed, settled and paid as any task; while real tasks reach the threshold, none.

const N = 3
const T = 4
const dir = tempDir()
const base = join(dir.path, 'net')
const dataDir = (i: number): string => join(base, `peer-${i}`)
let devnet: RunningDevnet
let daemons: TestDaemon[] = []
let ids: string[] = []
let genesis: { inference: { unitPrice: string; models: Array<{ unitsPerToken: number }> } }

interface TaskJson {
  synthetic?: true
  /** The epoch its gateway settled it in (the chain's may be the next). */
  epoch?: number
  receipt?: { promptTokens: number; completionTokens: number }
  chain: ChainTaskView | null
}

const task = async (i: number, id: string): Promise<TaskJson> =>
  (await daemons[i]!.get<TaskJson>(`/tasks/${id}`)).body
const plans = async (i: number): Promise<SyntheticView> =>
  (await daemons[i]!.get<SyntheticView>('/synthetic')).body
const epoch = async (): Promise<number> => (await daemons[0]!.get<{ epoch: number }>('/epoch')).body.epoch

/** Every synthetic task sent so far, with its gateway and its settled record. */
async function syntheticTasks(): Promise<Array<{ gateway: number; id: string; t: TaskJson }>> {
  const out = []
  for (let i = 0; i < N; i++)
    for (const p of (await plans(i)).epochs)
      for (const id of p.sent) out.push({ gateway: i, id, t: await task(i, id) })
  return out
}

before(async () => {
  for (let i = 0; i < N; i++) {
    mkdirSync(dataDir(i), { recursive: true })
    writeFileSync(
      join(dataDir(i), 'config.json'),
      JSON.stringify({
        network: 'devnet',
        synthetic: { minTasksPerEpoch: T, maxPerEpoch: 16, maxInFlight: 4 },
        ...(i === 0
          ? { genesis: { params: { minTxFee: '0', epochBlocks: 16 }, race: { raceMs: 2000 } } }
          : {}),
      }),
    )
  }
  devnet = await startDevnet(base, N)
  ids = devnet.peers.map((p) => p.peerId)
  daemons = ids.map((_, i) => new TestDaemon(dataDir(i)))
  genesis = (JSON.parse(readFileSync(join(dataDir(0), 'config.json'), 'utf8')) as { genesis: typeof genesis })
    .genesis
})

after(async () => {
  await devnet?.stop()
  dir.cleanup()
})

test('an idle network gets synthetic tasks: escrowed by validators, routed, settled and paid like real ones', async () => {
  // Until a few have settled and an epoch of them has been paid.
  const paid = await waitFor(
    'synthetic tasks settled and paid',
    async () => {
      const all = await syntheticTasks()
      const settled = all.filter((s) => s.t.chain !== null)
      if (settled.length < 3) return undefined
      const e = settled[0]!.t.chain!.epoch
      const r = await daemons[0]!.get<{ hosts: Array<{ peer: string; fees: string }> }>(
        `/ledger/payouts/${e}`,
      )
      return r.status === 200 ? { all, e, payout: r.body } : undefined
    },
    240_000,
  )
  const model = genesis.inference.models[0]!
  for (const { gateway, t } of paid.all) {
    assert.equal(t.synthetic, true, 'marked in its gateway’s own record')
    if (t.chain === null) continue
    assert.equal(t.chain.client, ids[gateway], 'escrowed and paid by the validator that sent it')
    assert.ok(ids.includes(t.chain.executor))
    assert.equal(
      BigInt(t.chain.fee),
      taskFee(
        t.receipt!.promptTokens + t.receipt!.completionTokens,
        model.unitsPerToken,
        BigInt(genesis.inference.unitPrice),
        1n << 62n,
      ),
      'the fee of its tokens, as any task',
    )
    assert.ok(t.chain.status !== 'fraud')
  }
  // The paid epoch held only synthetic tasks (nobody else sent any): its hosts were paid their fees.
  const inEpoch = paid.all.filter((s) => s.t.chain?.epoch === paid.e)
  const fees = inEpoch.reduce((n, s) => n + BigInt(s.t.chain!.fee), 0n)
  const paidFees = paid.payout.hosts.reduce((n, h) => n + BigInt(h.fees), 0n)
  assert.equal(paidFees, fees, `epoch ${paid.e}: the hosts were paid the fees of its ${inEpoch.length} tasks`)
  // Every plan made after an epoch with no tasks at all saw the whole threshold missing.
  for (let i = 0; i < N; i++)
    for (const p of (await plans(i)).epochs.filter((x) => x.settled === 0)) assert.equal(p.deficit, T)
})

test('while real tasks reach the threshold, no synthetic tasks are sent', async () => {
  const real: string[] = []
  let stop = false
  const sending = (async () => {
    for (let k = 0; !stop; k++) {
      const r = await daemons[k % N]!.post<{ cordex?: { task_id: string } }>('/v1/completions', {
        model: 'kjv-small',
        prompt: 'And it came to pass,',
        max_tokens: 6,
        temperature: 0,
      })
      if (r.body.cordex !== undefined) real.push(r.body.cordex.task_id)
    }
  })()
  try {
    // An epoch e whose previous epoch settled at least T real tasks and no synthetic ones: every
    // validator's plan for e must be 0.
    const checked = await waitFor(
      'an epoch planned after one of real demand',
      async () => {
        const now = await epoch()
        const realBy = new Map<number, number>()
        for (const id of real) {
          const c = (await task(0, id).catch(() => null))?.chain
          if (c != null) realBy.set(c.epoch, (realBy.get(c.epoch) ?? 0) + 1)
        }
        const synthBy = new Set<number>()
        for (const { t } of await syntheticTasks()) {
          if (t.chain !== null) synthBy.add(t.chain.epoch)
          else synthBy.add(t.epoch ?? 0).add((t.epoch ?? 0) + 1)
        }
        for (let e = now; e > now - 6; e--) {
          if ((realBy.get(e - 1) ?? 0) < T || synthBy.has(e - 1)) continue
          const all = await Promise.all([0, 1, 2].map(plans))
          const forE = all.map((v) => v.epochs.find((p) => p.epoch === e))
          if (forE.some((p) => p === undefined)) continue
          return forE.map((p) => p!)
        }
        return undefined
      },
      240_000,
    )
    for (const p of checked) {
      assert.equal(p.deficit, 0, `epoch ${p.epoch}: ${p.realEstimate} real tasks estimated of ${p.settled}`)
      assert.equal(p.quota, 0)
      assert.deepEqual(p.sent, [])
    }
  } finally {
    stop = true
    await sending
  }
})
