// `npm run bench:verify-soak`: verification on a real devnet, for the acceptance criterion "no
// honest host is ever convicted" and the figures of docs/verification.md: the check rate realised
// against the rate the rules set, honest false positives over the run (target 0), and the catch
// rate per cheating mode. Printed; the exit status is 1 when an honest task got a fraud verdict or
// a failed check (the replay's near-tie rule already passes numerical ties, so any failed vote on
// an honest host's task is a false positive: its evidence is printed).
//
//  - SOAK_TASKS (default 1000) honest tasks on `cordex devnet --peers SOAK_PEERS` (default 4), hosts
//    on 1 and 2 engine threads (even peers 1, odd peers 2), sent SOAK_CONCURRENCY (default 3) at a
//    time through every peer's socket in turn; half greedy, half sampled with varied temperature,
//    top_p, top_k and penalties, some with stop strings.
//  - Then every task is followed until its audit has closed (GET /tasks/:id, read before the chain
//    prunes it) and the realised checks are compared with the rule's expectation per task:
//    E = Σ_{v≠x} min(1, p·w_v/others) verifiers, P(≥1) = 1 − Π_{v≠x}(1 − min(1, p·w_v/others)),
//    with the epoch's weights from GET /hosts/:id.
//  - SOAK_CHEATS=1 (off by default) adds a second devnet (genesis fraudJailEpochs 0) with one more
//    peer that cheats, restarted once per mode (SOAK_CHEAT_MODES, default the four executor modes),
//    SOAK_CHEAT_TASKS (default 30) tasks per mode; catch rate = cheated tasks convicted.
//  - SOAK_TIMEOUT_MIN (default 60): the whole run's bound; SOAK_KEEP=1 keeps the devnet directories.
import { spawn, type ChildProcess } from 'node:child_process'
import type { ChainTaskView, HostView, Verification } from '../src/node/index.js'
import http from 'node:http'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CORDEX, DaemonProcess, stopAllDaemons, killAllDaemons } from './lib/daemons.js'
import { print, progress, table, num } from './lib/report.js'
import { seededRandom, sleep } from './lib/stats.js'

const env = (name: string, dflt: number): number => {
  const v = process.env[name]
  const n = v === undefined || v === '' ? dflt : Number(v)
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number ≥ 0, not ${v}`)
  return n
}

const TASKS = env('SOAK_TASKS', 1000)
const PEERS = Math.max(2, env('SOAK_PEERS', 4))
const CONCURRENCY = Math.max(1, env('SOAK_CONCURRENCY', 3))
const CHEATS = process.env.SOAK_CHEATS === '1'
const CHEAT_TASKS = env('SOAK_CHEAT_TASKS', 30)
const CHEAT_MODES = (process.env.SOAK_CHEAT_MODES ?? 'wrongTokens,substituteModel,truncate,ignoreSampling')
  .split(',')
  .filter((m) => m !== '')
const CHEAT_RATE = env('SOAK_CHEAT_RATE', 0.2)
const DEADLINE = Date.now() + env('SOAK_TIMEOUT_MIN', 60) * 60_000
const KEEP = process.env.SOAK_KEEP === '1'
const MODEL = 'kjv-small'
/** Threads of peer i's engine: half the hosts on each. */
const threadsOf = (i: number): number => (i % 2 === 0 ? 1 : 2)

// ---------- the API over a Unix socket ----------

interface Reply<T> {
  status: number
  body: T
}

function call<T>(
  socket: string,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 30_000,
): Promise<Reply<T>> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body)
    const req = http.request(
      {
        socketPath: socket,
        method,
        path,
        agent: false,
        timeout: timeoutMs,
        headers:
          data === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => (text += d))
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as T })
          } catch {
            reject(new Error(`${method} ${path}: ${res.statusCode} and no JSON: ${text.slice(0, 200)}`))
          }
        })
        res.on('error', reject)
      },
    )
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out after ${timeoutMs} ms`)))
    req.on('error', reject)
    req.end(data)
  })
}

async function getOk<T>(socket: string, path: string, timeoutMs = 30_000): Promise<T> {
  const r = await call<T>(socket, 'GET', path, undefined, timeoutMs)
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`)
  return r.body
}

// ---------- what the API answers ----------

interface TaskView {
  verification: Verification
  chain: ChainTaskView | null
}
interface Completion {
  usage: { prompt_tokens: number; completion_tokens: number }
  cordex: { task_id: string; executor: string }
}
interface PeerStatus {
  peerId: string
  pid: number
  socket: string
}

// ---------- the devnet ----------

interface Devnet {
  base: string
  peers: PeerStatus[]
  /** Peers restarted by this run (outside the supervisor). */
  restarted: Map<number, DaemonProcess>
  socket(i: number): string
  dataDir(i: number): string
  stop(): Promise<void>
}

/** Every devnet supervisor still running, for the last-resort exit handler. */
const supervisors = new Set<ChildProcess>()

function writeConfig(dataDir: string, config: Record<string, unknown>): void {
  mkdirSync(dataDir, { recursive: true })
  const file = join(dataDir, 'config.json')
  let current: Record<string, unknown> = { network: 'devnet' }
  try {
    current = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
  } catch {
    // not written yet
  }
  writeFileSync(file, JSON.stringify({ ...current, ...config }))
}

async function startDevnet(
  base: string,
  n: number,
  genesis: Record<string, unknown>,
  cheat: (i: number) => Record<string, unknown> | null,
): Promise<Devnet> {
  for (let i = 0; i < n; i++) {
    writeConfig(join(base, `peer-${i}`), {
      network: 'devnet',
      engine: { threads: threadsOf(i) },
      cheat: cheat(i),
      ...(i === 0 ? { genesis } : {}),
    })
  }
  const proc = spawn(
    process.execPath,
    [CORDEX, 'devnet', '--peers', String(n), '--base-dir', base, '--json'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  supervisors.add(proc)
  proc.on('exit', () => supervisors.delete(proc))
  let out = ''
  let err = ''
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()))
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()))
  const restarted = new Map<number, DaemonProcess>()
  let peers: PeerStatus[] = []
  const stop = async (): Promise<void> => {
    await Promise.all([...restarted.values()].map((d) => d.stop(15_000)))
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise<void>((r) => proc.once('exit', () => r()))
      proc.kill('SIGTERM')
      // The supervisor gives its daemons 15 s, then kills them.
      const timer = setTimeout(() => proc.kill('SIGKILL'), 25_000)
      await exited
      clearTimeout(timer)
    }
    // Its daemons stop when its IPC channel closes; make sure of it.
    for (const p of peers) await waitGone(p.pid, 10_000)
  }
  try {
    const deadline = Date.now() + 180_000
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`devnet exited ${proc.exitCode}: ${err.slice(-2000)}`)
      const line = out.split('\n').find((l) => l.includes('"event":"ready"'))
      if (line !== undefined) {
        peers = (JSON.parse(line) as { peers: PeerStatus[] }).peers
        break
      }
      if (Date.now() > deadline) throw new Error(`devnet not ready in 180 s: ${err.slice(-2000)}`)
      await sleep(250)
    }
  } catch (e) {
    await stop()
    throw e
  }
  const net: Devnet = {
    base,
    peers,
    restarted,
    dataDir: (i) => join(base, `peer-${i}`),
    socket: (i) => join(base, `peer-${i}`, 'cordex.sock'),
    stop,
  }
  // Every peer hosts the model before any task is sent, so that tasks spread over all of them.
  try {
    await until(
      `${n} hosts of ${MODEL}`,
      async () => {
        const m = await getOk<{ data: Array<{ id: string; cordex: { hosts: number } }> }>(
          net.socket(0),
          '/v1/models',
        )
        return (m.data.find((d) => d.id.startsWith(MODEL))?.cordex.hosts ?? 0) >= n ? true : undefined
      },
      120_000,
    )
  } catch (e) {
    await stop()
    throw e
  }
  return net
}

async function waitGone(pid: number, timeoutMs: number): Promise<void> {
  const alive = (): boolean => {
    try {
      process.kill(pid, 0)
      return true
    } catch {
      return false
    }
  }
  const deadline = Date.now() + timeoutMs
  while (alive() && Date.now() < deadline) await sleep(200)
  if (alive()) {
    progress(`daemon ${pid} outlived its supervisor: SIGKILL`)
    process.kill(pid, 'SIGKILL')
  }
}

/** Restart peer i (a devnet child or one restarted earlier) with another cheat. */
async function restartPeer(net: Devnet, i: number, cheat: Record<string, unknown> | null): Promise<void> {
  const running = net.restarted.get(i)
  if (running !== undefined) await running.stop(15_000)
  else {
    process.kill(net.peers[i]!.pid, 'SIGTERM')
    await waitGone(net.peers[i]!.pid, 20_000)
  }
  writeConfig(net.dataDir(i), { cheat })
  const d = new DaemonProcess(i, net.dataDir(i), net.peers[i]!.peerId)
  d.spawn()
  net.restarted.set(i, d)
  await d.waitReady(Date.now() + 120_000)
}

// ---------- bounded waits and stopping ----------

let stopping = false
class Stopped extends Error {}

async function until<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  pollMs = 500,
): Promise<T> {
  const deadline = Math.min(Date.now() + timeoutMs, DEADLINE)
  let last: unknown
  for (;;) {
    if (stopping) throw new Stopped('stopped')
    try {
      const v = await check()
      if (v !== undefined) return v
    } catch (e) {
      last = e
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`)
    await sleep(pollMs)
  }
}

// ---------- the tasks ----------

const PROMPTS = [
  'In the beginning God created the heaven and the earth.',
  'And the LORD spake unto Moses, saying,',
  'Blessed is the man that walketh not in the counsel of the ungodly,',
  'The LORD is my shepherd; I shall not want.',
  'And it came to pass in those days,',
  'Then answered Jesus and said unto them,',
  'Hear, O Israel: The LORD our God is one LORD:',
  'For God so loved the world,',
  'And God said, Let there be light:',
  'Now the serpent was more subtil than any beast of the field',
  'And he said unto them,',
  'Behold, I send an Angel before thee,',
]
const STOPS = [['.'], [';', ':'], ['LORD'], ['\n'], ['and the']]

interface Request {
  prompt: string
  max_tokens: number
  temperature: number
  top_p?: number
  top_k?: number
  repetition_penalty?: number
  frequency_penalty?: number
  stop?: string[]
}

/** The i-th request of a run: even ones greedy, odd ones sampled; one in five with stop strings. */
function request(i: number, rand: () => number): Request {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!
  // A prompt cut from a verse opening, so prompt lengths vary too.
  const opening = pick(PROMPTS)
  const words = opening.split(' ')
  const prompt = words.slice(0, 1 + Math.floor(rand() * words.length)).join(' ')
  const r: Request = { prompt, max_tokens: 16 + Math.floor(rand() * 33), temperature: 0 }
  if (i % 2 === 1) {
    r.temperature = Number((0.2 + rand() * 1.6).toFixed(2))
    if (rand() < 0.5) r.top_p = Number((0.5 + rand() * 0.5).toFixed(2))
    if (rand() < 0.5) r.top_k = pick([5, 10, 20, 40, 100])
    if (rand() < 0.3) r.repetition_penalty = Number((1 + rand() * 0.5).toFixed(2))
    if (rand() < 0.3) r.frequency_penalty = Number((rand() * 1.5 - 0.5).toFixed(2))
  } else if (rand() < 0.3) r.repetition_penalty = Number((1 + rand() * 0.3).toFixed(2))
  if (rand() < 0.2) r.stop = pick(STOPS)
  return r
}

interface Task {
  id: string
  gateway: number
  executor: string
  req: Request
  tokens: number
  /** The last view read, and the final one (status final, audit closed). */
  view?: ChainTaskView
  final?: ChainTaskView
  /** Status fraud seen while the audit was still open. */
  fraudBeforeClose: boolean
  lost?: string
}

async function submit(
  net: Devnet,
  req: Request,
  gateway: number,
  failures: Map<string, number>,
): Promise<{ c: Completion; gateway: number } | undefined> {
  // Busy answers (429/503) are retried on the next gateway after a pause; anything else is counted.
  for (let attempt = 0; attempt < 4; attempt++) {
    const g = (gateway + attempt) % net.peers.length
    try {
      const r = await call<Completion & { error?: { code?: string; message?: string } }>(
        net.socket(g),
        'POST',
        '/v1/completions',
        { model: MODEL, ...req },
        180_000,
      )
      if (r.status === 200) return { c: r.body, gateway: g }
      const key = `${r.status} ${r.body.error?.code ?? ''}`.trim()
      failures.set(key, (failures.get(key) ?? 0) + 1)
      if (r.status !== 429 && r.status !== 503 && r.status !== 504) return undefined
    } catch (e) {
      const key = (e as Error).message.slice(0, 80)
      failures.set(key, (failures.get(key) ?? 0) + 1)
    }
    if (stopping) return undefined
    await sleep(1000 * (attempt + 1))
  }
  return undefined
}

/**
 * Follows tasks until their audits close: a task is read while it settles (no chain record yet),
 * and again once its epoch's audit can have closed (the chain's epoch ≥ its epoch + 2), until its
 * status is final and its audit closed. Weights of every peer in every epoch are read from
 * GET /hosts/:id as the audits pass (they stay in state for disputeEpochs + 2 epochs).
 */
class Tracker {
  readonly tasks: Task[] = []
  /** epoch → peer → weight, and the hosts' last views. */
  readonly weights = new Map<number, Map<string, number>>()
  readonly hosts = new Map<string, HostView>()
  /** `${epoch} ${peer}` → its duty in the closed audit of that epoch (once revealed). */
  readonly duties = new Map<string, { epoch: number; assigned: number; done: number; skipped: boolean }>()
  epoch = 0
  /** Tasks read at every poll until final (the cheater's: to see when a conviction lands). */
  watch: (t: Task) => boolean = () => false
  private lastHosts = 0
  private hostsEpoch = -1

  constructor(private readonly net: Devnet) {}

  add(t: Task): void {
    this.tasks.push(t)
  }

  pending(): Task[] {
    return this.tasks.filter((t) => t.final === undefined && t.lost === undefined)
  }

  async poll(): Promise<void> {
    const net = this.net
    this.epoch = (await getOk<{ epoch: number }>(net.socket(0), '/epoch')).epoch
    if (this.epoch !== this.hostsEpoch || Date.now() - this.lastHosts > 20_000) {
      for (const p of net.peers) {
        const r = await call<HostView>(net.socket(0), 'GET', `/hosts/${p.peerId}`)
        if (r.status !== 200) continue
        this.hosts.set(p.peerId, r.body)
        for (const a of r.body.audits) {
          let m = this.weights.get(a.epoch)
          if (m === undefined) this.weights.set(a.epoch, (m = new Map()))
          m.set(p.peerId, a.weight)
          if (a.closed)
            this.duties.set(`${a.epoch} ${p.peerId}`, {
              epoch: a.epoch,
              assigned: a.assigned ?? 0,
              done: a.done ?? 0,
              skipped: a.skipped === true,
            })
        }
      }
      this.hostsEpoch = this.epoch
      this.lastHosts = Date.now()
    }
    const due = this.pending().filter(
      (t) =>
        t.view === undefined || this.epoch >= t.view.epoch + 2 || t.view.status !== 'open' || this.watch(t),
    )
    // A few reads at a time: the daemons are busy with inference.
    for (let i = 0; i < due.length; i += 4) {
      await Promise.all(due.slice(i, i + 4).map((t) => this.read(t)))
    }
  }

  private async read(t: Task): Promise<void> {
    let r: Reply<TaskView>
    try {
      r = await call<TaskView>(this.net.socket(t.gateway), 'GET', `/tasks/${t.id}`)
    } catch {
      return // try again next round
    }
    if (r.status !== 200) return
    const chain = r.body.chain
    if (chain === null) {
      if (r.body.verification === 'unknown') t.lost = 'the chain dropped its record before it was read'
      else if (r.body.verification !== 'pending')
        t.lost = `no chain record, verification ${r.body.verification}`
      return
    }
    t.view = chain
    if (chain.status === 'fraud' && !chain.auditClosed) t.fraudBeforeClose = true
    const final = chain.status !== 'open' && chain.status !== 'disputed'
    if (final && chain.auditClosed) t.final = chain
  }

  /** Poll until every task is final or lost, or `timeoutMs` passes. */
  async drain(timeoutMs: number, what: string): Promise<void> {
    const deadline = Math.min(Date.now() + timeoutMs, DEADLINE)
    let said = 0
    while (this.pending().length > 0 && Date.now() < deadline && !stopping) {
      await this.poll().catch((e: Error) => progress(`poll: ${e.message}`))
      if (Date.now() - said > 15_000) {
        said = Date.now()
        const p = this.pending()
        const open = p.filter((t) => t.view !== undefined)
        const oldest = open.length === 0 ? '—' : String(Math.min(...open.map((t) => t.view!.epoch)))
        progress(`${what}: ${p.length} tasks not final (epoch ${this.epoch}, oldest task epoch ${oldest})`)
      }
      if (this.pending().length > 0) await sleep(3000)
    }
  }
}

/** Send `count` tasks, `CONCURRENCY` at a time, through the peers in turn, polling as they settle. */
async function runTasks(
  net: Devnet,
  tracker: Tracker,
  count: number,
  seed: number,
  failures: Map<string, number>,
  reqOf: (i: number, rand: () => number) => Request = request,
): Promise<void> {
  const rand = seededRandom(seed)
  const reqs = Array.from({ length: count }, (_, i) => reqOf(i, rand))
  let next = 0
  let done = 0
  const started = Date.now()
  const worker = async (): Promise<void> => {
    while (!stopping && Date.now() < DEADLINE) {
      const i = next++
      if (i >= count) return
      const got = await submit(net, reqs[i]!, i % net.peers.length, failures)
      done++
      if (got === undefined) continue
      tracker.add({
        id: got.c.cordex.task_id,
        gateway: got.gateway,
        executor: got.c.cordex.executor,
        req: reqs[i]!,
        tokens: got.c.usage.completion_tokens,
        fraudBeforeClose: false,
      })
    }
  }
  const workers = Array.from({ length: CONCURRENCY }, () => worker())
  let finished = false
  void Promise.all(workers).then(() => (finished = true))
  let said = Date.now()
  while (!finished) {
    await Promise.race([Promise.all(workers), sleep(10_000)])
    if (finished) break
    await tracker.poll().catch((e: Error) => progress(`poll: ${e.message}`))
    if (Date.now() - said > 30_000) {
      said = Date.now()
      const rate = done / ((Date.now() - started) / 1000)
      progress(
        `sent ${done}/${count} (${rate.toFixed(2)}/s), epoch ${tracker.epoch}, ${tracker.tasks.length - tracker.pending().length} final`,
      )
    }
  }
  progress(`sent ${done}/${count} in ${((Date.now() - started) / 1000).toFixed(0)} s`)
}

// ---------- figures ----------

interface Expectation {
  /** Σ min(1, p·w_v/others): the verifiers the rule expects. */
  mean: number
  variance: number
  /** 1 − Π(1 − q_v). */
  anyCheck: number
}

function expectation(t: ChainTaskView, weights: Map<string, number> | undefined): Expectation | undefined {
  if (weights === undefined) return undefined
  const others = [...weights].filter(([id, w]) => id !== t.executor && w > 0)
  const total = others.reduce((s, [, w]) => s + w, 0)
  if (total === 0) return undefined
  let mean = 0
  let variance = 0
  let none = 1
  for (const [, w] of others) {
    const q = Math.min(1, ((t.rateBps / 1e4) * w) / total)
    mean += q
    variance += q * (1 - q)
    none *= 1 - q
  }
  return { mean, variance, anyCheck: 1 - none }
}

interface Failure {
  task: string
  executor: string
  executorThreads: number
  verifier: string
  verifierThreads: number
  request: Request
  vote: ChainTaskView['votes'][number]
  status: string
  log: string[]
}

/** The log lines of every peer that mention `task`. */
function logLines(net: Devnet, task: string): string[] {
  const out: string[] = []
  for (let i = 0; i < net.peers.length; i++) {
    let text = ''
    try {
      text = readFileSync(join(net.dataDir(i), 'daemon.log'), 'utf8')
    } catch {
      continue
    }
    for (const l of text.split('\n')) if (l.includes(task)) out.push(`peer-${i}: ${l.slice(0, 400)}`)
  }
  return out.slice(0, 12)
}

/** Counts of the verifier's log messages across every peer's daemon.log, and warnings/errors. */
function logSummary(net: Devnet): Record<string, number> {
  const counts: Record<string, number> = {}
  const keys = [
    'task checked',
    'task record not fetched',
    'task record does not hold',
    'verifier queue full: check skipped',
    'check failed to run',
    'key reveal failed',
    'selection key revealed',
  ]
  for (let i = 0; i < net.peers.length; i++) {
    let text = ''
    try {
      text = readFileSync(join(net.dataDir(i), 'daemon.log'), 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n')) {
      if (line === '') continue
      let j: { msg?: string; level?: number; ok?: boolean }
      try {
        j = JSON.parse(line) as typeof j
      } catch {
        continue
      }
      const msg = j.msg ?? ''
      if (keys.includes(msg)) {
        const k = msg === 'task checked' ? `task checked ok=${String(j.ok)}` : msg
        counts[k] = (counts[k] ?? 0) + 1
      } else if ((j.level ?? 0) >= 40) {
        const k = `${j.level! >= 50 ? 'error' : 'warn'}: ${msg.slice(0, 60)}`
        counts[k] = (counts[k] ?? 0) + 1
      }
    }
  }
  return counts
}

interface HonestReport {
  tasks: number
  settled: number
  final: number
  lost: number
  notFinal: number
  statuses: Record<string, number>
  byThreads: Record<string, { tasks: number; votes: number; failed: number; crossThreadVotes: number }>
  votes: number
  sampledVotes: number
  escalationVotes: number
  failedVotes: number
  failedReasons: Record<string, number>
  disputes: number
  honestFraud: number
  meanRateBps: number
  realisedChecksPerTask: number
  expectedChecksPerTask: number | null
  ruleChecksPerTask: number
  checksZ: number | null
  realisedAnyCheck: number
  expectedAnyCheck: number | null
  tasksWithWeights: number
  /** Per check rate fixed at settlement: tasks, expected and realised verifiers, P(≥1). */
  byRate: Array<{
    rateBps: number
    tasks: number
    expected: number | null
    realised: number
    anyExpected: number | null
    anyRealised: number
  }>
  /** Over the closed audits of the tasks' epochs: checks drawn (from the revealed keys) and done. */
  duties: {
    audits: number
    assigned: number
    done: number
    skipped: number
    validSampledVotes: number
  } | null
  failures: Failure[]
}

/** The honest figures over `tasks` whose executors are all honest (every peer but `cheater`). */
function honestFigures(net: Devnet, tracker: Tracker, tasks: Task[], sent: number): HonestReport {
  const threadsById = new Map(net.peers.map((p, i) => [p.peerId, threadsOf(i)]))
  const statuses: Record<string, number> = {}
  const failedReasons: Record<string, number> = {}
  const byThreads: HonestReport['byThreads'] = {}
  const failures: Failure[] = []
  let votes = 0
  let sampled = 0
  let escalation = 0
  let failed = 0
  let disputes = 0
  let honestFraud = 0
  let rateSum = 0
  let realised = 0
  let expected = 0
  let variance = 0
  let any = 0
  let anyExpected = 0
  let withWeights = 0
  const rates = new Map<
    number,
    { tasks: number; expected: number; weighted: number; realised: number; anyExpected: number; any: number }
  >()
  const final = tasks.filter((t) => t.final !== undefined)
  for (const t of tasks) {
    const v = t.final ?? t.view
    if (v === undefined) continue
    const th = String(threadsById.get(t.executor) ?? '?')
    const row = (byThreads[`${th} thread${th === '1' ? '' : 's'}`] ??= {
      tasks: 0,
      votes: 0,
      failed: 0,
      crossThreadVotes: 0,
    })
    row.tasks++
    for (const vote of v.votes) {
      row.votes++
      if (threadsById.get(vote.verifier) !== threadsById.get(t.executor)) row.crossThreadVotes++
      if (!vote.ok) {
        row.failed++
        failures.push({
          task: t.id,
          executor: t.executor,
          executorThreads: threadsById.get(t.executor) ?? 0,
          verifier: vote.verifier,
          verifierThreads: threadsById.get(vote.verifier) ?? 0,
          request: t.req,
          vote,
          status: v.status,
          log: logLines(net, t.id),
        })
      }
    }
    if (v.status === 'fraud') honestFraud++
    if (v.status !== 'open' && v.status !== 'verified' && v.status !== 'unchecked') disputes++
    else if (v.votes.some((x) => !x.ok)) disputes++
  }
  for (const t of final) {
    const v = t.final!
    statuses[v.status] = (statuses[v.status] ?? 0) + 1
    votes += v.votes.length
    for (const vote of v.votes) {
      if (vote.escalation) escalation++
      else sampled++
      if (!vote.ok) {
        failed++
        failedReasons[vote.reason] = (failedReasons[vote.reason] ?? 0) + 1
      }
    }
    rateSum += v.rateBps
    const n = v.votes.filter((x) => !x.escalation).length
    realised += n
    if (n > 0) any++
    const e = expectation(v, tracker.weights.get(v.epoch))
    let b = rates.get(v.rateBps)
    if (b === undefined)
      rates.set(v.rateBps, (b = { tasks: 0, expected: 0, weighted: 0, realised: 0, anyExpected: 0, any: 0 }))
    b.tasks++
    b.realised += n
    if (n > 0) b.any++
    if (e !== undefined) {
      withWeights++
      expected += e.mean
      variance += e.variance
      anyExpected += e.anyCheck
      b.weighted++
      b.expected += e.mean
      b.anyExpected += e.anyCheck
    }
  }
  const n = final.length
  const allWeights = withWeights === n && n > 0
  // Duty over the epochs whose tasks are all here (only this run sends tasks to this devnet).
  const epochs = new Set(final.map((t) => t.final!.epoch))
  const duties = [...tracker.duties.values()].filter((d) => epochs.has(d.epoch))
  const sampledIn = final.reduce((s, t) => s + t.final!.votes.filter((x) => !x.escalation).length, 0)
  return {
    tasks: sent,
    settled: tasks.filter((t) => t.view !== undefined).length,
    final: n,
    lost: tasks.filter((t) => t.lost !== undefined).length,
    notFinal: tasks.filter((t) => t.final === undefined && t.lost === undefined).length,
    statuses,
    byThreads,
    votes,
    sampledVotes: sampled,
    escalationVotes: escalation,
    failedVotes: failed,
    failedReasons,
    disputes,
    honestFraud,
    meanRateBps: n === 0 ? 0 : rateSum / n,
    realisedChecksPerTask: n === 0 ? 0 : realised / n,
    expectedChecksPerTask: allWeights ? expected / n : null,
    ruleChecksPerTask: n === 0 ? 0 : rateSum / n / 1e4,
    checksZ: allWeights && variance > 0 ? (realised - expected) / Math.sqrt(variance) : null,
    realisedAnyCheck: n === 0 ? 0 : any / n,
    expectedAnyCheck: allWeights ? anyExpected / n : null,
    tasksWithWeights: withWeights,
    byRate: [...rates]
      .sort(([a], [b]) => b - a)
      .map(([rateBps, b]) => ({
        rateBps,
        tasks: b.tasks,
        expected: b.weighted === b.tasks ? b.expected / b.tasks : null,
        realised: b.realised / b.tasks,
        anyExpected: b.weighted === b.tasks ? b.anyExpected / b.tasks : null,
        anyRealised: b.any / b.tasks,
      })),
    duties:
      duties.length === 0
        ? null
        : {
            audits: duties.length,
            assigned: duties.reduce((s, d) => s + d.assigned, 0),
            done: duties.reduce((s, d) => s + d.done, 0),
            skipped: duties.filter((d) => d.skipped).length,
            validSampledVotes: sampledIn,
          },
    failures,
  }
}

function printHonest(title: string, r: HonestReport): void {
  print(`\n${title}`)
  print(
    table([
      ['measure', 'value'],
      ['tasks sent / answered', `${r.tasks} / ${r.final + r.lost + r.notFinal}`],
      [
        'settled on chain / audit closed / lost / not final',
        `${r.settled} / ${r.final} / ${r.lost} / ${r.notFinal}`,
      ],
      [
        'statuses',
        Object.entries(r.statuses)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ') || '—',
      ],
      ['votes (sampled + in disputes)', `${r.votes} (${r.sampledVotes} + ${r.escalationVotes})`],
      ['failed votes', `${r.failedVotes}${r.failedVotes > 0 ? ` (${JSON.stringify(r.failedReasons)})` : ''}`],
      ['disputed tasks', String(r.disputes)],
      ['fraud verdicts on honest hosts (target 0)', String(r.honestFraud)],
      [
        'mean check rate p (rule: verifiers per task)',
        `${num(r.meanRateBps, 0)} bps = ${num(r.ruleChecksPerTask, 3)}`,
      ],
      [
        'expected verifiers per task Σ min(1, p·w/others)',
        r.expectedChecksPerTask === null
          ? `— (weights for ${r.tasksWithWeights}/${r.final} tasks)`
          : num(r.expectedChecksPerTask, 3),
      ],
      [
        'realised valid sampled checks per task',
        `${num(r.realisedChecksPerTask, 3)}${r.checksZ === null ? '' : ` (z = ${num(r.checksZ, 2)})`}`,
      ],
      [
        'P(task checked ≥ 1): expected / realised',
        `${r.expectedAnyCheck === null ? '—' : num(r.expectedAnyCheck, 3)} / ${num(r.realisedAnyCheck, 3)}`,
      ],
    ]),
  )
  if (r.duties !== null)
    print(
      `duty in the closed audits of these epochs (peer × epoch: ${r.duties.audits}): ${r.duties.assigned} checks drawn by the revealed keys, ` +
        `${r.duties.done} done, ${r.duties.skipped} peers forfeited for skipping; valid sampled votes on these tasks: ${r.duties.validSampledVotes}`,
    )
  print('')
  print(
    table([
      ['check rate p', 'tasks', 'expected verifiers', 'realised', 'P(≥1) expected', 'P(≥1) realised'],
      ...r.byRate.map((b) => [
        `${b.rateBps} bps`,
        String(b.tasks),
        b.expected === null ? '—' : num(b.expected, 3),
        num(b.realised, 3),
        b.anyExpected === null ? '—' : num(b.anyExpected, 3),
        num(b.anyRealised, 3),
      ]),
    ]),
  )
  print('')
  print(
    table([
      ['executor threads', 'tasks', 'votes', 'cross-thread votes', 'failed'],
      ...Object.entries(r.byThreads).map(([k, v]) => [
        k,
        String(v.tasks),
        String(v.votes),
        String(v.crossThreadVotes),
        String(v.failed),
      ]),
    ]),
  )
  for (const f of r.failures) {
    print(`\nFAILED CHECK on an honest task ${f.task} (status ${f.status})`)
    print(
      `  executor ${f.executor} (${f.executorThreads} threads), verifier ${f.verifier} (${f.verifierThreads} threads)`,
    )
    print(`  vote ${JSON.stringify(f.vote)}`)
    print(`  request ${JSON.stringify(f.request)}`)
    for (const l of f.log) print(`  ${l}`)
  }
}

function printHosts(net: Devnet, tracker: Tracker): void {
  print('')
  print(
    table([
      [
        'peer',
        'threads',
        'reputation',
        'check rate',
        'frauds',
        'false acc.',
        'audits: epoch weight revealed assigned/done skipped',
      ],
      ...net.peers.map((p, i) => {
        const h = tracker.hosts.get(p.peerId)
        return [
          `peer-${i}`,
          String(threadsOf(i)),
          String(h?.reputation ?? '—'),
          h?.checkRate === null || h === undefined ? '—' : `${h.checkRate.bps} bps`,
          String(h?.frauds.length ?? '—'),
          String(h?.falseAccusations ?? '—'),
          (h?.audits ?? [])
            .filter((a) => a.closed)
            .slice(0, 4)
            .map((a) =>
              `e${a.epoch} ${a.weight} ${a.revealed ? 'y' : 'n'} ${a.assigned ?? '-'}/${a.done ?? '-'} ${a.skipped === true ? 'SKIPPED' : ''}`.trim(),
            )
            .join('; '),
        ]
      }),
    ]),
  )
}

// ---------- the phases ----------

interface CheatFigures {
  mode: string
  cheatedTasks: number
  caught: number
  caughtBeforeAuditClose: number
  /** Σ over the cheated tasks of P(≥ 1 verifier drawn): convictions to expect if every check catches. */
  expectedChecked: number | null
  statuses: Record<string, number>
  /** The cheated tasks that were not convicted, with what the chain holds of them. */
  missed: Array<{
    task: string
    status: string
    epoch: number
    rateBps: number
    votes: ChainTaskView['votes'][number][]
    pChecked: number | null
  }>
  honestTasks: number
  honestFailedVotes: number
  honestFraud: number
}

async function honestPhase(root: string, out: Record<string, unknown>): Promise<boolean> {
  const base = join(root, 'honest')
  progress(
    `honest phase: devnet of ${PEERS} peers (threads ${Array.from({ length: PEERS }, (_, i) => threadsOf(i)).join(',')}) in ${base}`,
  )
  const net = await startDevnet(base, PEERS, { params: { minTxFee: '0' } }, () => null)
  try {
    const tracker = new Tracker(net)
    const failures = new Map<string, number>()
    await runTasks(net, tracker, TASKS, 20261201, failures)
    if (failures.size > 0) progress(`submission failures: ${JSON.stringify(Object.fromEntries(failures))}`)
    // The last task's audit closes at the end of the epoch after its own; allow several epochs.
    await tracker.drain(15 * 60_000, 'audits')
    const r = honestFigures(net, tracker, tracker.tasks, TASKS)
    const logs = logSummary(net)
    printHonest(`Honest soak: ${PEERS} honest peers, ${TASKS} tasks`, r)
    printHosts(net, tracker)
    print('\nverifier log lines (all peers)')
    print(table([['message', 'count'], ...Object.entries(logs).map(([k, v]) => [k, String(v)])]))
    for (const t of tracker.pending().slice(0, 10))
      print(`NOT FINAL: task ${t.id} gateway peer-${t.gateway} last view ${JSON.stringify(t.view ?? null)}`)
    for (const t of tracker.tasks.filter((x) => x.lost !== undefined).slice(0, 10))
      print(`LOST: task ${t.id}: ${t.lost}`)
    const { failures: evidence, ...figures } = r
    out.honest = {
      ...figures,
      submissionFailures: Object.fromEntries(failures),
      failures: evidence.map((f) => ({
        task: f.task,
        vote: f.vote,
        executorThreads: f.executorThreads,
        verifierThreads: f.verifierThreads,
      })),
      logs,
    }
    return r.honestFraud === 0 && r.failedVotes === 0 && r.failures.length === 0
  } finally {
    progress('stopping the honest devnet')
    await net.stop()
  }
}

/** Requests that make each cheat show: sampled ones for ignoreSampling, long greedy ones for truncate. */
function cheatRequest(mode: string): (i: number, rand: () => number) => Request {
  return (i, rand) => {
    const r = request(i, rand)
    if (mode === 'ignoreSampling') return { ...request(2 * i + 1, rand), stop: undefined }
    if (mode === 'truncate') return { prompt: r.prompt, max_tokens: 40, temperature: 0 }
    return r
  }
}

async function cheatPhase(root: string, out: Record<string, unknown>): Promise<boolean> {
  const base = join(root, 'cheat')
  const n = PEERS + 1
  const cheater = PEERS
  progress(`cheat phase: devnet of ${n} peers, peer-${cheater} cheats (${CHEAT_MODES.join(', ')})`)
  const net = await startDevnet(
    base,
    n,
    { params: { minTxFee: '0' }, verification: { fraudJailEpochs: 0 } },
    (i) => (i === cheater ? { mode: CHEAT_MODES[0]!, rate: CHEAT_RATE } : null),
  )
  const figures: CheatFigures[] = []
  let honestOk = true
  try {
    const cheaterId = net.peers[cheater]!.peerId
    for (const [k, mode] of CHEAT_MODES.entries()) {
      if (stopping) break
      if (k > 0) await restartPeer(net, cheater, { mode, rate: CHEAT_RATE })
      progress(`cheat phase: ${mode}`)
      const tracker = new Tracker(net)
      tracker.watch = (t) => t.executor === cheaterId
      const failures = new Map<string, number>()
      // Enough tasks that the cheater (1 of n, when not jailed) executes about CHEAT_TASKS of them.
      await runTasks(net, tracker, CHEAT_TASKS * n, 20261300 + k, failures, cheatRequest(mode))
      await tracker.drain(10 * 60_000, `audits (${mode})`)
      const cheated = tracker.tasks.filter((t) => t.executor === cheaterId)
      const honest = tracker.tasks.filter((t) => t.executor !== cheaterId)
      const statuses: Record<string, number> = {}
      for (const t of cheated) {
        const s = (t.final ?? t.view)?.status ?? 'unsettled'
        statuses[s] = (statuses[s] ?? 0) + 1
      }
      const h = honestFigures(net, tracker, honest, honest.length)
      if (h.honestFraud > 0 || h.failures.length > 0) honestOk = false
      for (const f of h.failures) {
        print(
          `\nFAILED CHECK on an honest task ${f.task} (cheat phase, ${mode}): vote ${JSON.stringify(f.vote)}`,
        )
        for (const l of f.log) print(`  ${l}`)
      }
      figures.push({
        mode,
        cheatedTasks: cheated.length,
        caught: cheated.filter((t) => (t.final ?? t.view)?.status === 'fraud').length,
        caughtBeforeAuditClose: cheated.filter((t) => t.fraudBeforeClose).length,
        expectedChecked: cheated.every((t) => t.final !== undefined && tracker.weights.has(t.final.epoch))
          ? cheated.reduce(
              (s, t) => s + (expectation(t.final!, tracker.weights.get(t.final!.epoch))?.anyCheck ?? 0),
              0,
            )
          : null,
        statuses,
        missed: cheated
          .filter((t) => (t.final ?? t.view)?.status !== 'fraud')
          .map((t) => {
            const v = t.final ?? t.view
            return {
              task: t.id,
              status: v?.status ?? 'unsettled',
              epoch: v?.epoch ?? -1,
              rateBps: v?.rateBps ?? -1,
              votes: v?.votes ?? [],
              pChecked:
                v === undefined ? null : (expectation(v, tracker.weights.get(v.epoch))?.anyCheck ?? null),
            }
          }),
        honestTasks: honest.length,
        honestFailedVotes: h.failures.length,
        honestFraud: h.honestFraud,
      })
    }
    print('\nCatch rate per cheating mode (a cheated task: one the cheater executed)')
    print(
      table([
        [
          'mode',
          'cheated tasks',
          'convicted',
          'before audit close',
          'catch rate',
          'expected checked',
          'statuses',
          'honest tasks',
          'honest failed votes',
        ],
        ...figures.map((f) => [
          f.mode,
          String(f.cheatedTasks),
          String(f.caught),
          String(f.caughtBeforeAuditClose),
          f.cheatedTasks === 0 ? '—' : `${((100 * f.caught) / f.cheatedTasks).toFixed(1)}%`,
          f.expectedChecked === null ? '—' : num(f.expectedChecked, 2),
          Object.entries(f.statuses)
            .map(([s, c]) => `${s} ${c}`)
            .join(', '),
          String(f.honestTasks),
          String(f.honestFailedVotes),
        ]),
      ]),
    )
    for (const f of figures)
      for (const m of f.missed)
        print(
          `missed (${f.mode}): task ${m.task} ${m.status}, epoch ${m.epoch}, p ${m.rateBps} bps, P(checked) ${num(m.pChecked, 2)}, votes ${JSON.stringify(m.votes)}`,
        )
    print(`verifier log lines (all peers): ${JSON.stringify(logSummary(net))}`)
    out.cheats = figures
    return honestOk
  } finally {
    progress('stopping the cheat devnet')
    await net.stop()
  }
}

async function main(): Promise<number> {
  const root = mkdtempSync(join(tmpdir(), 'cx-soak-'))
  const out: Record<string, unknown> = { tasks: TASKS, peers: PEERS, concurrency: CONCURRENCY }
  let ok = true
  try {
    ok = (await honestPhase(root, out)) && ok
    if (CHEATS && !stopping) ok = (await cheatPhase(root, out)) && ok
  } finally {
    await stopAllDaemons(10_000)
    if (KEEP) progress(`kept ${root}`)
    else rmSync(root, { recursive: true, force: true })
  }
  out.ok = ok
  print(JSON.stringify(out))
  return ok ? 0 : 1
}

process.on('SIGINT', () => {
  if (stopping) {
    // A second Ctrl-C: kill everything now.
    killAllDaemons()
    for (const s of supervisors) s.kill('SIGKILL')
    process.exit(130)
  }
  progress('SIGINT: stopping the devnet (Ctrl-C again to kill it)')
  stopping = true
})
process.on('SIGTERM', () => (stopping = true))
process.on('exit', () => {
  killAllDaemons()
  for (const s of supervisors) s.kill('SIGKILL')
})

main().then(
  (code) => process.exit(stopping ? 130 : code),
  (err: unknown) => {
    progress(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
    process.exit(stopping ? 130 : 2)
  },
)
