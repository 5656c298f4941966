import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import OpenAI from 'openai'
import { Agent, fetch as undiciFetch } from 'undici'
import { TestDaemon, type StatusJson } from '../helpers/daemon.js'
import { cordex, cordexJson, tempDir, waitFor } from '../helpers/cli.js'
import { startDevnet, type RunningDevnet } from '../helpers/devnet.js'
import { taskFee } from '../../src/ledger/index.js'

// A devnet of 5 daemons: peers 0-2 are honest; peer 3 is told to cheat as an executor (devnet only),
// one way per round, restarted with the next way after each conviction; peer 4 cheats as a verifier
// (false accusations, skipped checks) in the later rounds. Every peer hosts the model, races and
// verifies. Genesis here: no transaction fees (so balances move only by the rules under
// test) and no jail beyond the epoch of a conviction (so a convicted cheater serves again in the
// next round). Expected ledger effects are recomputed from the rules and the genesis parameters.

interface Vote {
  verifier: string
  ok: boolean
  reason: string
  position: number
  expected: number
  actual: number
  escalation: boolean
}
interface TaskView {
  verification: 'unchecked' | 'pending' | 'verified' | 'fraud' | 'unknown'
  chain: {
    status: string
    epoch: number
    executor: string
    client: string
    fee: string
    votes: Vote[]
    penalty: {
      refunded: string
      forfeited: string
      slashed: string
      bounty: string
      reporterReward: string
    } | null
    reported: boolean
  } | null
}
interface HostView {
  reputation: number
  held: string
  jailedUntilEpoch: number
  frauds: number[]
  falseAccusations: number
  audits: Array<{
    epoch: number
    closed: boolean
    skipped: boolean | null
    assigned: number | null
    done: number | null
  }>
}
interface Completion {
  choices: Array<{ text: string }>
  usage: { prompt_tokens: number; completion_tokens: number }
  cordex: { task_id: string; executor: string; verification: string }
}
interface Genesis {
  inference: { unitPrice: string; models: Array<{ id: string; unitsPerToken: number }> }
  verification: {
    fraudSlashBps: number
    reportDeposit: string
    reportRewardBps: number
    fraudJailEpochs: number
  }
}

const N = 5
const STAKE = 10_000_000_000n
const dir = tempDir()
const base = join(dir.path, 'net')
const dataDir = (i: number): string => join(base, `peer-${i}`)
let devnet: RunningDevnet
let peers: StatusJson[]
let genesis: Genesis
const daemons: TestDaemon[] = []
/** Cheaters restarted by the test (outside the devnet supervisor). */
const restarted = new Map<number, TestDaemon>()
const clients = new Map<number, OpenAI>()

const idOf = (i: number): string => peers[i]!.peerId
const api = (i: number): TestDaemon => restarted.get(i) ?? daemons[i]!

function writeConfig(i: number, extra: Record<string, unknown>): void {
  mkdirSync(dataDir(i), { recursive: true })
  const file = join(dataDir(i), 'config.json')
  let current: Record<string, unknown> = { network: 'devnet' }
  try {
    current = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
  } catch {
    // not written yet
  }
  writeFileSync(file, JSON.stringify({ ...current, ...extra }))
}

function openai(i: number): OpenAI {
  let c = clients.get(i)
  if (c === undefined) {
    const agent = new Agent({ connect: { socketPath: join(dataDir(i), 'cordex.sock') } })
    c = new OpenAI({
      baseURL: 'http://localhost/v1',
      apiKey: 'none',
      maxRetries: 0,
      fetch: ((url: string, init: Record<string, unknown>) =>
        undiciFetch(url, { ...init, dispatcher: agent } as never)) as never,
    })
    clients.set(i, c)
  }
  return c
}

const task = async (gateway: number, id: string): Promise<TaskView> =>
  (await api(gateway).get<TaskView>(`/tasks/${id}`)).body
const host = async (i: number): Promise<HostView> => (await api(0).get<HostView>(`/hosts/${idOf(i)}`)).body
const epoch = async (): Promise<number> => (await api(0).get<{ epoch: number }>('/epoch')).body.epoch
const account = async (i: number): Promise<{ balance: bigint; stake: bigint }> => {
  const a = (await api(0).get<{ balance: string; stake: string }>(`/accounts/${idOf(i)}`)).body
  return { balance: BigInt(a.balance), stake: BigInt(a.stake) }
}

/** The fee of a task, from the rules: tokens × units per token × unit price. */
function feeOf(c: Completion): bigint {
  const model = genesis.inference.models[0]!
  return taskFee(
    c.usage.prompt_tokens + c.usage.completion_tokens,
    model.unitsPerToken,
    BigInt(genesis.inference.unitPrice),
    1n << 62n,
  )
}

const PROMPTS = [
  'And it came to pass,',
  'In the beginning',
  'And the LORD spake unto Moses, saying,',
  'Blessed is the man',
  'And God said,',
  'Now the serpent was',
]

/** Whether `peer` can be drawn now: it has weight in the epoch (or no Race weights exist yet). */
async function routable(peer: number): Promise<boolean> {
  const weights = (await api(0).get<{ weights: Record<string, number> }>('/epoch')).body.weights
  const h = await host(peer)
  return (
    (Object.keys(weights).length === 0 || (weights[idOf(peer)] ?? 0) > 0) &&
    h.jailedUntilEpoch <= (await epoch())
  )
}

/**
 * Send prompts through `gateway` until one is executed by `executor` (waiting while it cannot be
 * drawn: a restarted host that missed a Race has no weight for an epoch); every other answer is an
 * honest host's, and is noted, so the test can check that no honest task is convicted.
 */
async function taskOn(
  executor: number,
  gateway: number,
  req: { temperature: number; max_tokens: number },
  honest: string[],
): Promise<Completion> {
  let i = 0
  return waitFor(
    `a task drawn for peer ${executor}`,
    async () => {
      if (!(await routable(executor))) return undefined
      const c = (await openai(gateway).completions.create({
        model: 'kjv-small',
        prompt: PROMPTS[i++ % PROMPTS.length]!,
        ...req,
      } as never)) as unknown as Completion
      if (c.cordex.executor === idOf(executor)) return c
      if (c.cordex.executor !== idOf(3)) honest.push(c.cordex.task_id)
      return undefined
    },
    180_000,
  )
}

const final = (s: string | undefined): boolean =>
  s === 'fraud' || s === 'cleared' || s === 'verified' || s === 'unchecked'

async function decided(gateway: number, id: string): Promise<TaskView> {
  return waitFor(
    `task ${id.slice(0, 8)} decided`,
    async () => {
      const t = await task(gateway, id)
      return final(t.chain?.status) ? t : undefined
    },
    120_000,
  )
}

/** Restart peer `i` with another cheat (a new config, a new process outside the supervisor). */
async function recheat(i: number, cheat: Record<string, unknown> | null): Promise<void> {
  const running = restarted.get(i)
  if (running !== undefined) await running.stop()
  else {
    process.kill(peers[i]!.pid, 'SIGTERM')
    await waitFor(`peer ${i} stopped`, async () => {
      try {
        process.kill(peers[i]!.pid, 0)
        return undefined
      } catch {
        return true
      }
    })
  }
  writeConfig(i, { cheat })
  const d = new TestDaemon(dataDir(i))
  await d.start()
  restarted.set(i, d)
}

/**
 * Peer 3 cheats in the way its config says until one of its tasks is convicted, which is then
 * checked against the rules. A task with no verifier drawn (about e^-1 of them at check rate 1)
 * closes unchecked; a cheat is never passed.
 */
async function convictOne(
  req: { temperature: number; max_tokens: number },
  gateway = 0,
): Promise<{ c: Completion; t: TaskView }> {
  const stake = (await account(3)).stake
  for (let i = 0; i < 8; i++) {
    const c = await taskOn(3, gateway, req, honest)
    const t = await decided(gateway, c.cordex.task_id)
    if (t.chain!.status === 'fraud') {
      await assertConvicted(t, c, 3, stake)
      return { c, t }
    }
    assert.equal(t.chain!.status, 'unchecked', 'a cheated task is never passed')
  }
  throw new Error('eight cheated tasks and none convicted')
}

/** One round: peer 3 restarted to cheat in another way. */
async function round(
  cheat: Record<string, unknown>,
  req: { temperature: number; max_tokens: number },
  gateway = 0,
): Promise<{ c: Completion; t: TaskView }> {
  await recheat(3, cheat)
  return convictOne(req, gateway)
}

/**
 * The rules of docs/verification.md "Penalties", recomputed: the client is refunded the fee, the
 * executor's stake is slashed by fraudSlashBps of what it held, each accuser's bounty is
 * min(slash / n, fee / 2 / n), and the cheater's reputation is 0, its fraud recorded and its jail
 * set.
 */
async function assertConvicted(
  t: TaskView,
  c: Completion,
  cheater: number,
  stakeBefore: bigint,
): Promise<void> {
  assert.equal(t.verification, 'fraud')
  const chain = t.chain!
  assert.equal(chain.status, 'fraud')
  assert.equal(chain.executor, idOf(cheater))
  const fee = feeOf(c)
  assert.equal(BigInt(chain.fee), fee)
  const p = chain.penalty!
  assert.equal(BigInt(p.refunded), fee, 'the client gets its fee back')
  const slashed = (stakeBefore * BigInt(genesis.verification.fraudSlashBps)) / 10_000n
  assert.equal(BigInt(p.slashed), slashed)
  const accusers = chain.votes.filter((v) => !v.ok)
  assert.ok(accusers.length > 0)
  const n = BigInt(accusers.length)
  const cap = slashed / n < fee / 2n / n ? slashed / n : fee / 2n / n
  assert.equal(BigInt(p.bounty), cap)
  assert.ok(accusers.every((v) => v.verifier !== idOf(cheater)))
  const h = await host(cheater)
  assert.equal(h.reputation, 0)
  assert.ok(h.frauds.length > 0)
  const convictedIn = h.frauds[h.frauds.length - 1]!
  assert.ok(convictedIn >= chain.epoch)
  assert.equal(h.jailedUntilEpoch, convictedIn + 1 + genesis.verification.fraudJailEpochs)
  assert.equal((await account(cheater)).stake, stakeBefore - slashed, 'the slash left the stake')
}

before(async () => {
  writeConfig(0, {
    genesis: { params: { minTxFee: '0' }, verification: { fraudJailEpochs: 0 } },
  })
  writeConfig(3, { cheat: { mode: 'wrongTokens', rate: 0.5 } })
  devnet = await startDevnet(base, N)
  peers = devnet.peers
  for (let i = 0; i < N; i++) daemons.push(new TestDaemon(dataDir(i)))
  genesis = (JSON.parse(readFileSync(join(dataDir(0), 'config.json'), 'utf8')) as { genesis: Genesis })
    .genesis
  // The cheater puts up stake, so that slashing shows.
  const r = await cordex(['tx', 'stake', '--amount', String(STAKE), '--data-dir', dataDir(3), '--json'])
  assert.equal(r.code, 0, r.stderr)
  await waitFor(
    'five hosts of the model',
    async () => {
      const m = (await api(0).get<{ data: Array<{ cordex: { hosts: number } }> }>('/v1/models')).body
      return m.data[0]?.cordex.hosts === N ? true : undefined
    },
    60_000,
  )
})

after(async () => {
  for (const d of restarted.values()) await d.stop()
  await devnet?.stop()
  // CORDEX_KEEP_TEST_DIR=1 keeps the daemons' data and logs for a look after a failure.
  if (process.env.CORDEX_KEEP_TEST_DIR === undefined) dir.cleanup()
  else process.stderr.write(`kept ${dir.path}\n`)
})

const honest: string[] = []

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

test('a host serving a substitute model, truncating, or ignoring the sampling settings is convicted', async () => {
  await round({ mode: 'substituteModel' }, { temperature: 0, max_tokens: 24 })
  // Greedy from these prompts runs past 40 tokens, so stopping at 20 is a truncation.
  const { c, t } = await round({ mode: 'truncate' }, { temperature: 0, max_tokens: 40 })
  assert.ok(c.usage.completion_tokens <= 20)
  assert.equal(t.chain!.votes.find((v) => !v.ok)!.reason, 'end', 'a truncation fails at its end')
  await round({ mode: 'ignoreSampling' }, { temperature: 1, max_tokens: 24 }, 1)
})

test('a host that serves no records is convicted when no one else has them; a false accuser loses its reputation', async () => {
  await recheat(4, { mode: 'falseAccuse' })
  // Peer 3 as its own gateway: then nobody else holds the record.
  const { t } = await round({ mode: 'noRecords' }, { temperature: 0, max_tokens: 16 }, 3)
  assert.ok(t.chain!.votes.filter((v) => !v.ok && v.verifier !== idOf(4)).every((v) => v.reason === 'record'))
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
  await recheat(3, { mode: 'wrongTokens', rate: 1 })
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

  // Upheld: a cheat's task. Its checkers may decide it before the report lands; then try another.
  for (let i = 0; i < 6; i++) {
    const cheat = await taskOn(3, 0, { temperature: 0, max_tokens: 12 }, honest)
    await settled(cheat.cordex.task_id)
    const r = await cordex(['report', cheat.cordex.task_id, '--data-dir', dataDir(0), '--json'])
    const t = await decided(0, cheat.cordex.task_id)
    if (r.code !== 0) continue // decided before the report landed: no deposit was taken
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
