import { after, before } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import OpenAI from 'openai'
import { Agent, fetch as undiciFetch } from 'undici'
import { TestDaemon, type StatusJson } from './daemon.js'
import { cordex, tempDir, waitFor } from './cli.js'
import { diagnose, readPeerConfig, startDevnet, writePeerConfig, type RunningDevnet } from './devnet.js'
import { taskFee } from '../../src/ledger/index.js'
import type { ChainTaskView, HostView, Verification } from '../../src/node/index.js'
import { LedgerWatch, type EconGenesis } from './payouts.js'

// The devnet of the verification e2e tests (test/e2e/verify*.test.ts), 5 daemons: peers 0-2 are
// honest; peer 3 is told to cheat as an executor (devnet only), one way per round, restarted with the next way after each conviction; peer 4 cheats as a verifier
// (false accusations, skipped checks) in the later rounds. Every peer hosts the model, races and
// verifies. Genesis here: no transaction fees (so balances move only by the rules under
// test) and no jail beyond the epoch of a conviction (so a convicted cheater serves again in the
// next round). Expected ledger effects are recomputed from the rules and the genesis parameters.
// Every peer counts the books after every block (ledger.checkBooksEveryBlock), so every block of
// every run is checked; `after` fails the file if a daemon stopped on unbalanced books.

/** `GET /tasks/:id`: the chain's record, and what it means for the client. */
export interface TaskView {
  verification: Verification
  chain: ChainTaskView | null
}
export interface Completion {
  choices: Array<{ text: string }>
  usage: { prompt_tokens: number; completion_tokens: number }
  cordex: { task_id: string; executor: string; verification: string }
}
export interface Genesis extends EconGenesis {
  inference: { unitPrice: string; models: Array<{ id: string; unitsPerToken: number }> }
  verification: {
    fraudSlashBps: number
    reportDeposit: string
    reportRewardBps: number
    fraudJailEpochs: number
  }
}

const N = 5
export const STAKE = 10_000_000_000n
const dir = tempDir()
const base = join(dir.path, 'net')
export const dataDir = (i: number): string => join(base, `peer-${i}`)
let devnet: RunningDevnet
export let peers: StatusJson[]
export let genesis: Genesis
const daemons: TestDaemon[] = []
/** Cheaters restarted by the test (outside the devnet supervisor). */
const restarted = new Map<number, TestDaemon>()
const clients = new Map<number, OpenAI>()
/** The model every peer hosts and every task asks for (useVerifyDevnet's `model`). */
let modelName = 'kjv-small'

export const idOf = (i: number): string => peers[i]!.peerId
export const api = (i: number): TestDaemon => restarted.get(i) ?? daemons[i]!

export function writeConfig(i: number, extra: Record<string, unknown>): void {
  writePeerConfig(dataDir(i), { ...readPeerConfig(dataDir(i)), ...extra })
}

export function openai(i: number): OpenAI {
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

export const task = async (gateway: number, id: string): Promise<TaskView> =>
  (await api(gateway).get<TaskView>(`/tasks/${id}`)).body
export const host = async (i: number): Promise<HostView> =>
  (await api(0).get<HostView>(`/hosts/${idOf(i)}`)).body
export const epoch = async (): Promise<number> => (await api(0).get<{ epoch: number }>('/epoch')).body.epoch
export const account = async (i: number): Promise<{ balance: bigint; stake: bigint }> => {
  const a = (await api(0).get<{ balance: string; stake: string }>(`/accounts/${idOf(i)}`)).body
  return { balance: BigInt(a.balance), stake: BigInt(a.stake) }
}

/** The fee of a task, from the rules: tokens × units per token × unit price. */
export function feeOf(c: Completion): bigint {
  const model = genesis.inference.models[0]!
  return taskFee(
    c.usage.prompt_tokens + c.usage.completion_tokens,
    model.unitsPerToken,
    BigInt(genesis.inference.unitPrice),
    1n << 62n,
  )
}

/** A task's sampling and length; a prompt of its own, else the next of PROMPTS. */
export interface TaskParams {
  temperature: number
  max_tokens: number
  prompt?: string
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
export async function routable(peer: number): Promise<boolean> {
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
export async function taskOn(
  executor: number,
  gateway: number,
  req: TaskParams,
  honest: string[],
): Promise<Completion> {
  let i = 0
  return waitFor(
    `a task drawn for peer ${executor}`,
    async () => {
      if (!(await routable(executor))) return undefined
      const c = (await openai(gateway).completions.create({
        model: modelName,
        prompt: PROMPTS[i++ % PROMPTS.length]!,
        ...req,
      } as never)) as unknown as Completion
      completions.push(c)
      if (c.cordex.executor === idOf(executor)) return c
      if (c.cordex.executor !== idOf(3)) honest.push(c.cordex.task_id)
      return undefined
    },
    180_000,
  )
}

/** One task through `gateway`, to whichever host the draw picks (noted with the others). */
export async function anyTask(gateway: number, req: TaskParams): Promise<Completion> {
  const c = (await openai(gateway).completions.create({
    model: modelName,
    prompt: PROMPTS[completions.length % PROMPTS.length]!,
    ...req,
  } as never)) as unknown as Completion
  completions.push(c)
  return c
}

const final = (s: string | undefined): boolean =>
  s === 'fraud' || s === 'cleared' || s === 'verified' || s === 'unchecked'

export async function decided(gateway: number, id: string): Promise<TaskView> {
  // A task whose votes do not reach a majority early is decided when its audit closes, at the end
  // of the next epoch; on a loaded machine that can take more than two minutes.
  // A record that goes away was dropped with its audit while still disputed: say so at once.
  let seen = false
  const t = await waitFor(
    `task ${id.slice(0, 8)} decided`,
    async () => {
      const t = await task(gateway, id)
      if (t.chain === null) return seen ? t : undefined
      seen = true
      return final(t.chain.status) ? t : undefined
    },
    240_000,
  )
  if (t.chain === null) throw new Error(`task ${id.slice(0, 8)} was dropped with its audit, undecided`)
  return t
}

/** Restart peer `i` with another cheat (a new config, a new process outside the supervisor). */
export async function recheat(i: number, cheat: Record<string, unknown> | null): Promise<void> {
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
export async function convictOne(req: TaskParams, gateway = 0): Promise<{ c: Completion; t: TaskView }> {
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
export async function round(
  cheat: Record<string, unknown>,
  req: TaskParams,
  gateway = 0,
): Promise<{ c: Completion; t: TaskView }> {
  await recheat(3, cheat)
  return convictOne(req, gateway)
}

/**
 * The rules of docs/verification.md "Penalties", recomputed: the client is refunded the fee (from
 * the stake for what held rewards lack), the executor's stake is then slashed by fraudSlashBps of
 * what it holds, each accuser's bounty is min(slash / n, fee / 2 / n), and the cheater's
 * reputation is 0, its fraud recorded and its jail set.
 */
export async function assertConvicted(
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
  // The refund comes from the executor's held rewards, and what they lack from its stake (an
  // earlier conviction forfeited them): that part is `fromStake`, at most the fee, and none when
  // something was left to forfeit. The slash is then of what the stake holds after it.
  const stakeAfter = (await account(cheater)).stake
  const slashed = BigInt(p.slashed)
  const fromStake = stakeBefore - stakeAfter - slashed
  assert.ok(fromStake >= 0n && fromStake <= fee, `refund from stake ${fromStake}, fee ${fee}`)
  if (BigInt(p.forfeited) > 0n) assert.equal(fromStake, 0n, 'held rewards left to forfeit paid the refund')
  assert.equal(slashed, ((stakeBefore - fromStake) * BigInt(genesis.verification.fraudSlashBps)) / 10_000n)
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
}

/**
 * Start the devnet before the file's tests (peer 3 first cheats with `firstCheat`) and stop it
 * after them. Each test file gets its own devnet: the rounds of all of them together would not
 * fit one file's time limit.
 */
export function useVerifyDevnet(
  firstCheat: Record<string, unknown>,
  opts: {
    /** Another model folder than kjv-small for every peer to host, and the genesis to approve. */
    model?: { dir: string; id: string; unitsPerToken: number }
  } = {},
): void {
  before(async () => {
    for (let i = 0; i < N; i++)
      writeConfig(i, {
        ledger: { checkBooksEveryBlock: true },
        ...(opts.model === undefined ? {} : { engine: { models: [opts.model.dir] } }),
      })
    if (opts.model !== undefined) modelName = opts.model.id.split('@')[0]!
    writeConfig(0, {
      // Short epochs (a 2-second Race, 16 blocks): the rounds wait for audits, which close at epoch
      // ends. A check rate of 1 at any reputation: a convicted cheater regains its reputation in a
      // few epochs, and at the floor rate (20%) most of its next round's tasks would go unchecked,
      // each costing the round an audit's wait (CI saw a round run out of time that way).
      genesis: {
        params: { minTxFee: '0', epochBlocks: 16 },
        race: { raceMs: 2000 },
        verification: { fraudJailEpochs: 0, minCheckRateBps: 10_000 },
        ...(opts.model === undefined
          ? {}
          : { inference: { models: [{ id: opts.model.id, unitsPerToken: opts.model.unitsPerToken }] } }),
      },
    })
    writeConfig(3, { cheat: firstCheat })
    devnet = await startDevnet(base, N)
    peers = devnet.peers
    for (let i = 0; i < N; i++) daemons.push(new TestDaemon(dataDir(i)))
    genesis = (JSON.parse(readFileSync(join(dataDir(0), 'config.json'), 'utf8')) as { genesis: Genesis })
      .genesis
    // The cheater puts up stake, so that slashing shows.
    // Waits for finality: on a loaded machine, right after the devnet's start, more than 30 s.
    const r = await cordex(
      ['tx', 'stake', '--amount', String(STAKE), '--data-dir', dataDir(3), '--json'],
      90_000,
    )
    assert.equal(r.code, 0, r.stderr)
    let models: unknown
    await waitFor(
      'five hosts of the model',
      async () => {
        const m = (await api(0).get<{ data: Array<{ cordex: { hosts: number } }> }>('/v1/models')).body
        models = m
        return m.data[0]?.cordex.hosts === N ? true : undefined
      },
      60_000,
    ).catch(async (err: unknown) => {
      process.stderr.write(
        `models as peer 0 sees them: ${JSON.stringify(models)}\n${await hostsDiagnosis(N)}\n${await diagnose(base, N)}\n`,
      )
      throw err
    })
  })

  after(async () => {
    // Each daemon counted the books after every block it committed: none may have stopped on them.
    const answering = await Promise.all(
      [...Array(N).keys()].map((i) =>
        api(i)
          .get('/status')
          .then((r) => r.status === 200)
          .catch(() => false),
      ),
    )
    for (const d of restarted.values()) await d.stop()
    await devnet?.stop()
    const unbalanced = [...Array(N).keys()].filter((i) => {
      const file = join(dataDir(i), 'daemon.log')
      const logs = (existsSync(file) ? readFileSync(file, 'utf8') : '') + (restarted.get(i)?.output ?? '')
      return logs.includes('"msg":"the books do not balance"') || logs.includes('CHAIN_UNBALANCED')
    })
    dir.cleanup()
    assert.deepEqual(unbalanced, [], 'no daemon found its books unbalanced after a block')
    assert.deepEqual(
      answering,
      answering.map(() => true),
      'every daemon still answered at the end of the run',
    )
  })
}

/**
 * Keep what the payout check needs while the run goes (test/helpers/payouts.ts): the chain's
 * record of every task the file sent, the duty verdicts, convictions, weights and Races, polled
 * on peer 0 (never restarted) from the start of the file's tests to the end.
 */
export function watchPayouts(): LedgerWatch {
  const watch = new LedgerWatch(
    (path) => api(0).get(path),
    () => peers.map((p) => p.peerId),
    () => completions.map((c) => c.cordex.task_id),
  )
  before(() => watch.start())
  after(() => watch.stop().catch(() => {}))
  return watch
}

export const honest: string[] = []
/** Every completion the helpers received, in order: the tasks this file's tests sent. */
export const completions: Completion[] = []

/**
 * For a devnet whose hosts did not all appear: each peer's HostAnnounce as peer 0 and as the peer
 * itself see it, each one's head, and what each logged about announcing (CI keeps nothing else;
 * this wait failed now and then with one host missing and every peer connected).
 */
async function hostsDiagnosis(n: number): Promise<string> {
  const hostOf = async (asker: number, id: string): Promise<string> => {
    const r = await api(asker)
      .get<HostView>(`/hosts/${id}`)
      .catch((e: Error) => ({ status: 0, body: e.message }))
    if (r.status !== 200) return `HTTP ${r.status}`
    const host = (r.body as HostView).host
    return host === null ? 'no HostAnnounce' : `models ${host.models.join(',')} since ${host.since}`
  }
  const lines: string[] = []
  for (let i = 0; i < n; i++) {
    const id = idOf(i)
    const head = await api(i)
      .get<{ height: number }>('/ledger/head')
      .then((r) => String(r.body.height))
      .catch(() => '?')
    const file = join(dataDir(i), 'daemon.log')
    const announced = (existsSync(file) ? readFileSync(file, 'utf8') : '')
      .split('\n')
      .filter((l) => l.includes('host announced') || l.includes('cannot announce'))
      .map((l) => l.slice(0, 200))
    lines.push(
      `peer-${i} (${id.slice(-6)}), head ${head}: as peer 0 sees it: ${await hostOf(0, id)}; ` +
        `as it sees itself: ${await hostOf(i, id)}; its log: ${announced.join(' | ') || 'no announcement'}`,
    )
  }
  return lines.join('\n')
}
