// `npm run bench:infer`: inference speed, printed, never asserted.
//  - the engine's prefill and decode tokens/s against a minimal onnxruntime greedy loop over the same
//    model files, in the same run (ratio; target ≥ 0.9);
//  - time to first token and total time of a request through a gateway and an executor daemon on
//    loopback, against a direct engine call in the same run (overhead; target < 2 ms at the median),
//    and what the same hops between three processes cost with no work at all (bench/lib/hopFloor.ts);
//  - where that time goes: each stage of a request on its way to the first token (`stages`);
//  - throughput with 1, 4 and 16 concurrent clients, on the engine alone and through the gateway
//    (issue 14, item 6: continuous batching; target ≥ 3× one client's with 16), in tokens/s and in
//    tokens per CPU-second of every process involved (which this shared machine's noise moves
//    less), with each process's CPU per token (gateway, executor, clients); a client answered 503
//    (gateway saturated) waits its Retry-After and tries again, and the 503s are counted;
//  - prefill and decode tokens/s of a random-weight decoder of about 100M parameters
//    (scripts/model/random-decoder.mjs, built into build/models/ on first use) on the CPU, and on
//    the GPU through onnxruntime's WebGPU provider where it finds an adapter (issue 11, item 4).
//  - what continuous batching can give at most for that workload (`ceiling`): the decoder's own
//    prefill time per prompt and decode time per token, alone and 16 at a time, and the ratio
//    they bound (prefill is compute-bound: 16 prompts together cost what they cost one by one);
// BENCH_TOKENS (default 32) is the answers' length in the throughput and ceiling sections;
// BENCH_SECONDS (default 8) bounds each throughput measurement; BENCH_REQUESTS (default 30) the
// latency samples; BENCH_MODEL (default build/models/gpt2-random-100m) names the model folder the
// provider comparison runs on. Arguments pick sections: `npm run bench:infer -- providers` runs
// only that one (`engine`, `ceiling`, `network`, `stages`, `providers`; default all; an unknown
// name is refused).
import ort from 'onnxruntime-node'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import http from 'node:http'
import { spawn, spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import {
  DEFAULT_REPLAY_EPSILON,
  Engine,
  GREEDY,
  OrtDecoder,
  TextModel,
  argmax,
  webgpuUnavailable,
  type ExecutionProvider,
} from '../src/engine/index.js'
import { print, progress, table, num, ms } from './lib/report.js'
import { sleep, summarize } from './lib/stats.js'
import { ROOT, CORDEX, cpuSecondsOf, waitFor, writeGatewayExecutor } from './lib/daemons.js'
import { pickSections } from './lib/sections.js'
import { hopFloor } from './lib/hopFloor.js'
import { readApiToken } from '../src/node/index.js'
import { DEFAULT_PEER_LIMITS } from '../src/protocols/guard.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8)
/** Tokens per answer in the throughput runs and the ceiling. */
const ANSWER_TOKENS = Number(process.env.BENCH_TOKENS ?? 32)
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 30)
const MODEL_DIR = join(ROOT, 'models', 'kjv-small')
const PROMPT =
  'And the LORD spake unto Moses, saying, Speak unto the children of Israel, and say unto them, When ' +
  'any man of you bring an offering unto the LORD, ye shall bring your offering of the cattle, even of ' +
  'the herd, and of the flock. If his offering be a burnt sacrifice of the herd, let him offer a male'
const median = (xs: number[]): number => summarize(xs).p50

/** The minimal loop: one session, greedy, KV cache, on this thread; no tokenizer, no worker. */
async function minimalLoop(session: ort.InferenceSession, model: TextModel, prompt: number[], n: number) {
  const { layers, kvHeads, headDim, vocab } = model.spec
  let past: Record<string, ort.Tensor> = {}
  for (let l = 0; l < layers; l++)
    for (const kv of ['key', 'value'])
      past[`past_key_values.${l}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [
        1,
        kvHeads,
        0,
        headDim,
      ])
  let ids = prompt
  let length = 0
  let prefillMs = 0
  const t0 = performance.now()
  for (let i = 0; i < n; i++) {
    const total = length + ids.length
    const out = await session.run({
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]),
      position_ids: new ort.Tensor(
        'int64',
        BigInt64Array.from(ids, (_, j) => BigInt(length + j)),
        [1, ids.length],
      ),
      ...past,
    })
    const logits = out.logits!.data as Float32Array
    const next = argmax(logits.subarray(logits.length - vocab))
    past = {}
    for (const k of Object.keys(out))
      if (k.startsWith('present.')) past[k.replace('present.', 'past_key_values.')] = out[k]!
    length = total
    ids = [next]
    if (i === 0) prefillMs = performance.now() - t0
  }
  const totalMs = performance.now() - t0
  return { prefillMs, decodeMs: totalMs - prefillMs, decoded: n - 1 }
}

async function engineRun(engine: Engine, model: TextModel, prompt: number[], n: number) {
  let first = 0
  const t0 = performance.now()
  const r = await engine.generate(
    model.id,
    { promptIds: prompt, sampling: GREEDY, seed: new Uint8Array(32), maxTokens: n, stop: [] },
    () => (first ||= performance.now() - t0),
  )
  const totalMs = performance.now() - t0
  return { prefillMs: first, decodeMs: totalMs - first, decoded: r.completionTokens - 1 }
}

async function engineVersusMinimal(): Promise<void> {
  progress('engine against a minimal onnxruntime loop')
  // The engine as onnxruntime's defaults run it (spinning threads), and as the daemon runs it.
  const engines = {
    spinning: await Engine.start({ models: [MODEL_DIR], maxActive: 1, maxQueue: 1, spinning: true }),
    daemon: await Engine.start({ models: [MODEL_DIR], maxActive: 1, maxQueue: 1, spinning: false }),
  }
  const model = engines.spinning.models()[0]!
  const session = await ort.InferenceSession.create(join(MODEL_DIR, 'model.onnx'), {
    graphOptimizationLevel: 'all',
  })
  // A long prompt (prefill is measured up to the first token, which includes the worker's hop).
  const prompt = model.encode(`${PROMPT} ${PROMPT} ${PROMPT}`).slice(0, 192)
  const n = Math.min(64, model.spec.contextLength - prompt.length)
  type Kind = 'minimal' | keyof typeof engines
  const rows: Record<Kind, Array<[number, number]>> = { minimal: [], spinning: [], daemon: [] }
  // Blocks of runs, not strict alternation: onnxruntime's threads spin for a moment after a run,
  // and would slow whichever session runs right after the other. The first run of a block warms up.
  for (let round = 0; round < 3; round++) {
    for (const kind of ['minimal', 'spinning', 'daemon'] as const) {
      for (let i = 0; i < 4; i++) {
        const r =
          kind === 'minimal'
            ? await minimalLoop(session, model, prompt, n)
            : await engineRun(engines[kind], model, prompt, n)
        if (i > 0) rows[kind].push([(prompt.length * 1000) / r.prefillMs, (r.decoded * 1000) / r.decodeMs])
      }
    }
  }
  await Promise.all(Object.values(engines).map((e) => e.stop()))
  await session.release()
  const pre = (k: Kind): number => median(rows[k].map((r) => r[0]))
  const dec = (k: Kind): number => median(rows[k].map((r) => r[1]))
  const row = (name: string, k: Kind): string[] => [
    name,
    num(pre(k), 0),
    num(dec(k), 0),
    k === 'minimal' ? '' : num(pre(k) / pre('minimal'), 2),
    k === 'minimal' ? '' : num(dec(k) / dec('minimal'), 2),
  ]
  print(
    `\nEngine against a minimal onnxruntime loop (${model.id}, prompt ${prompt.length} tokens, ${n} generated, medians of 9)`,
  )
  print(
    table([
      ['', 'prefill tok/s', 'decode tok/s', 'prefill ratio', 'decode ratio (target ≥ 0.9)'],
      row('minimal loop (onnxruntime defaults)', 'minimal'),
      row('engine, spinning threads', 'spinning'),
      row('engine, as the daemon runs it', 'daemon'),
    ]),
  )
}

interface Streamed {
  ttftMs: number
  totalMs: number
  tokens: number
  /** When the request went out (wall clock, ms with performance.now()'s microseconds). */
  sentAt?: number
  /** The task id the gateway's last event named. */
  taskId?: string
  /** Set when the gateway answered 503 (saturated): its Retry-After, ms. */
  retryAfterMs?: number
  /** With a 503: why, the gateway's message with its task ids and counts left out. */
  busyWhy?: string
}

/** The gateway's TCP listener and the bearer token it requires. */
interface Gateway {
  url: string
  token: string
}

/**
 * Keep-alive connections for the clients. They speak HTTP with node:http: undici's `fetch` cost
 * the client itself about 2 ms per request and a quarter of a millisecond of CPU per streamed
 * token (measured on this machine), which would be counted against the gateway here.
 */
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })

/** The bench's streamed completion request, greedy, of `maxTokens` tokens after PROMPT. */
const completionBody = (maxTokens: number): string =>
  JSON.stringify({ model: 'kjv-small', prompt: PROMPT, max_tokens: maxTokens, temperature: 0, stream: true })

/** One streamed completion through the gateway's TCP listener. */
function viaGateway(gw: Gateway, maxTokens: number): Promise<Streamed> {
  const t0 = performance.now()
  const sentAt = performance.timeOrigin + t0
  const body = completionBody(maxTokens)
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${gw.url}/v1/completions`,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${gw.token}` },
      },
      (res) => {
        let ttft = 0
        let buf = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          buf += chunk
          // Tested on what has arrived, not the chunk alone: a chunk may end inside the first text.
          if (ttft === 0 && /"text":"[^"]/.test(buf)) ttft = performance.now() - t0
        })
        res.on('error', reject)
        res.on('end', () => {
          const totalMs = performance.now() - t0
          // Saturated (every executor tried refused the task): the client waits as told, as the
          // openai package does.
          if (res.statusCode === 503)
            return resolve({
              ttftMs: totalMs,
              totalMs,
              tokens: 0,
              retryAfterMs: Number(res.headers['retry-after'] ?? 1) * 1000,
              busyWhy: busyReason(buf),
            })
          if (res.statusCode !== 200)
            return reject(new Error(`gateway answered ${res.statusCode}: ${buf.slice(0, 200)}`))
          const tokens = Number(/"completion_tokens":(\d+)/.exec(buf)?.[1] ?? 0)
          const taskId = /"task_id":"([0-9a-f]+)"/.exec(buf)?.[1]
          resolve({ ttftMs: ttft || totalMs, totalMs, tokens, sentAt, taskId })
        })
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

/** A 503's message, its task and peer ids and numbers blanked so that the same cause counts once. */
function busyReason(body: string): string {
  let message = body
  try {
    message = (JSON.parse(body) as { error?: { message?: string } }).error?.message ?? body
  } catch {
    // Not JSON: the body as it is.
  }
  return message.replace(/\b[0-9a-f]{16,}\b|\b[1-9A-HJ-NP-Za-km-z]{40,}\b/g, '…').replace(/\d+/g, 'N')
}

async function direct(engine: Engine, model: TextModel, maxTokens: number): Promise<Streamed> {
  const t0 = performance.now()
  let ttft = 0
  const r = await engine.generate(
    model.id,
    { promptIds: model.encode(PROMPT), sampling: GREEDY, seed: new Uint8Array(32), maxTokens, stop: [] },
    (c) => (ttft ||= c.text.length > 0 ? performance.now() - t0 : 0),
  )
  return { ttftMs: ttft, totalMs: performance.now() - t0, tokens: r.completionTokens }
}

/** The most concurrent clients the throughput runs use, and the batch the ceiling measures. */
const MOST_CLIENTS = 16

/**
 * The executor's per-peer limits in this bench (protocols.maxStreamsPerPeer, requestsPerSecond):
 * a network's defaults bound what one gateway may ask of one executor (8 streams, 50 requests/s,
 * so at most 1,600 tokens/s of 32-token answers), which is what a host wants of a peer it does
 * not know but not what this bench measures: how far the executor's batching takes 16 clients.
 */
const BENCH_LIMITS = { maxStreamsPerPeer: MOST_CLIENTS, requestsPerSecond: 1000 }

/** engine.maxActive of the devnet's executor: the sequences one model decodes together at most. */
const MAX_ACTIVE = (
  JSON.parse(readFileSync(join(ROOT, 'configs', 'devnet.json'), 'utf8')) as { engine: { maxActive: number } }
).engine.maxActive

/**
 * Tokens/s and latency with 1, 4 and 16 clients each sending `one` in a loop for SECONDS; and tokens
 * per CPU-second of every process involved (`cpu`: each one's CPU time so far, s, by name), which
 * this shared machine's noise moves less than tokens/s, with each process's CPU per token.
 */
async function throughput(
  name: string,
  one: () => Promise<Streamed>,
  cpu: () => Record<string, number>,
): Promise<string[][]> {
  const rows: string[][] = [
    [
      name,
      'requests',
      'tokens/s',
      'vs 1 client',
      'tokens/CPU-s',
      'vs 1 client',
      'latency p50',
      'latency p99',
      '503s',
      'CPU per token',
    ],
  ]
  let single = 0
  let singleCpu = 0
  for (const clients of [1, 4, MOST_CLIENTS]) {
    progress(`${name}: ${clients} concurrent clients for ${SECONDS} s`)
    const lat: number[] = []
    let tokens = 0
    let busy = 0
    const why = new Map<string, number>()
    const t0 = performance.now()
    const c0 = cpu()
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (performance.now() - t0 < SECONDS * 1000) {
          const r = await one()
          if (r.retryAfterMs !== undefined) {
            busy++
            if (r.busyWhy !== undefined) why.set(r.busyWhy, (why.get(r.busyWhy) ?? 0) + 1)
            await sleep(r.retryAfterMs)
            continue
          }
          lat.push(r.totalMs)
          tokens += r.tokens
        }
      }),
    )
    const rate = tokens / ((performance.now() - t0) / 1000)
    const used = Object.entries(cpu()).map(([who, s]): [string, number] => [who, s - (c0[who] ?? 0)])
    const perCpu = tokens / used.reduce((sum, [, s]) => sum + s, 0)
    if (clients === 1) [single, singleCpu] = [rate, perCpu]
    const s = summarize(lat)
    rows.push([
      `${clients} client${clients === 1 ? '' : 's'}`,
      String(lat.length),
      num(rate, 0),
      `${num(rate / single, 2)}×`,
      num(perCpu, 0),
      `${num(perCpu / singleCpu, 2)}×`,
      ms(s.p50),
      ms(s.p99),
      String(busy),
      used.map(([who, s]) => `${who} ${ms((s * 1000) / tokens)}`).join(', '),
    ])
    for (const [reason, n] of why) progress(`${clients} clients: ${n} × 503 ${reason}`)
  }
  return rows
}

/** A gateway and an executor daemon (writeGatewayExecutor, `both` added to their configs), ready. */
async function startPair(
  both: Record<string, unknown>,
): Promise<{ gw: Gateway; base: string; daemonPids: number[]; stop: () => Promise<void> }> {
  progress('starting a gateway and an executor daemon (Race workers off)')
  const base = join(tmpdir(), `cordex-bench-infer-${process.pid}`)
  rmSync(base, { recursive: true, force: true })
  writeGatewayExecutor(base, both)
  const devnet = spawn(
    process.execPath,
    [CORDEX, 'devnet', '--peers', '2', '--api', '--base-dir', base, '--json'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  let out = ''
  devnet.stdout.on('data', (d: Buffer) => (out += d.toString()))
  const stop = async (): Promise<void> => {
    agent.destroy()
    devnet.kill('SIGTERM')
    if (devnet.exitCode === null && devnet.signalCode === null)
      await new Promise((r) => devnet.once('exit', r))
    rmSync(base, { recursive: true, force: true })
  }
  try {
    const ready = await waitFor('the devnet', async () => {
      const line = out.split('\n').find((l) => l.includes('"event":"ready"'))
      return line === undefined
        ? undefined
        : (JSON.parse(line) as { peers: Array<{ apiUrl: string; pid: number }> })
    })
    const { apiUrl: url } = ready.peers[0]!
    const gw: Gateway = { url, token: await readApiToken(join(base, 'peer-0')) }
    await waitFor('the host announcement', async () => {
      const res = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${gw.token}` } })
      const m = (await res.json()) as {
        data: Array<{ cordex: { hosts: number } }>
      }
      return m.data[0]?.cordex.hosts === 1 ? true : undefined
    })
    return { gw, base, daemonPids: ready.peers.map((p) => p.pid), stop }
  } catch (err) {
    await stop()
    throw err
  }
}

async function network(): Promise<void> {
  const { gw, daemonPids, stop } = await startPair({ protocols: BENCH_LIMITS })
  try {
    const engine = await Engine.start({
      models: [MODEL_DIR],
      maxActive: MAX_ACTIVE,
      maxQueue: 64,
      spinning: false,
    })
    const model = engine.models()[0]!
    await viaGateway(gw, 8)
    await direct(engine, model, 8)
    progress(`${REQUESTS} requests each way`)
    const net: Streamed[] = []
    const loc: Streamed[] = []
    for (let i = 0; i < REQUESTS; i++) {
      const r = await viaGateway(gw, 32)
      if (r.retryAfterMs !== undefined) throw new Error('a lone request was answered 503')
      net.push(r)
      loc.push(await direct(engine, model, 32))
    }
    const floor = await hopFloor(REQUESTS, completionBody(32))
    const row = (name: string, xs: Streamed[]): string[] => {
      const t = summarize(xs.map((x) => x.ttftMs))
      const a = summarize(xs.map((x) => x.totalMs))
      return [name, ms(t.p50), ms(t.p99), ms(a.p50), ms(a.p99)]
    }
    print(
      `\nA request through gateway and executor on loopback against a direct engine call (32 tokens, greedy, ${REQUESTS} each)`,
    )
    print(
      table([
        ['', 'TTFT p50', 'TTFT p99', 'total p50', 'total p99'],
        row('direct engine call', loc),
        row('gateway → infer → executor', net),
        [
          'overhead (medians; target < 2 ms)',
          ms(median(net.map((x) => x.ttftMs)) - median(loc.map((x) => x.ttftMs))),
          '',
          ms(median(net.map((x) => x.totalMs)) - median(loc.map((x) => x.totalMs))),
          '',
        ],
        ['the same hops, no work (bench/lib/hopFloor.ts)', ms(floor.p50), ms(floor.p99), '', ''],
      ]),
    )

    print(
      `\nThroughput with concurrent clients (${ANSWER_TOKENS}-token completions, greedy; engine.maxActive ${MAX_ACTIVE}; ` +
        `the executor admits ${BENCH_LIMITS.maxStreamsPerPeer} streams and ${BENCH_LIMITS.requestsPerSecond} ` +
        `requests/s from one gateway, raised from the defaults ${DEFAULT_PEER_LIMITS.maxStreamsPerPeer} and ` +
        `${DEFAULT_PEER_LIMITS.requestsPerSecond})`,
    )
    // CPU: this process (the engine's worker and the clients), then the two daemons and the clients.
    const own = (): number => {
      const c = process.cpuUsage()
      return (c.user + c.system) / 1e6
    }
    const [gateway, executor] = daemonPids.map((pid) => () => cpuSecondsOf(pid) ?? 0)
    print(
      table(
        await throughput(
          'direct engine calls',
          () => direct(engine, model, ANSWER_TOKENS),
          () => ({ engine: own() }),
        ),
      ),
    )
    await engine.stop()
    const all = (): Record<string, number> => ({ gateway: gateway!(), executor: executor!(), clients: own() })
    print(table(await throughput('through gateway and executor', () => viaGateway(gw, ANSWER_TOKENS), all)))
  } finally {
    await stop()
  }
}

/**
 * Where a request's time goes on its way to the first token: the two daemons log each task's
 * stages at level `trace` (src/util/stageTrace.ts), and for REQUESTS requests one at a time the
 * median time of each stage since the client sent it is printed, with the step from the stage
 * before (the clocks are this machine's, shared by the three processes).
 */
async function stages(): Promise<void> {
  const { gw, base, stop } = await startPair({ protocols: BENCH_LIMITS, log: { level: 'trace' } })
  try {
    for (let i = 0; i < 8; i++) await viaGateway(gw, 32)
    progress(`${REQUESTS} requests, one at a time, their stages logged`)
    const sent: Streamed[] = []
    for (let i = 0; i < REQUESTS; i++) {
      sent.push(await viaGateway(gw, 32))
      await sleep(20)
    }
    await sleep(500)
    const at = new Map<string, Map<string, number>>()
    for (const peer of ['peer-0', 'peer-1'])
      for (const line of readFileSync(join(base, peer, 'daemon.log'), 'utf8').split('\n')) {
        if (!line.includes('"task stage"')) continue
        const { task, stage, at: t } = JSON.parse(line) as { task: string; stage: string; at: number }
        if (!at.has(task)) at.set(task, new Map())
        at.get(task)!.set(stage, t)
      }
    const since = new Map<string, number[]>()
    for (const r of sent) {
      const mine = at.get(r.taskId ?? '')
      if (mine === undefined || r.sentAt === undefined) continue
      for (const [stage, t] of [...mine, ['client: first text', r.sentAt + r.ttftMs] as const])
        since.set(stage, [...(since.get(stage) ?? []), t - r.sentAt])
    }
    const rows = [...since].map(([stage, xs]) => [stage, median(xs)] as const).sort((a, b) => a[1] - b[1])
    print(
      `\nWhere a request's time goes: median ms since the client sent it (32 tokens, greedy, ${REQUESTS} requests, ` +
        `one at a time; the gateway's own stages before its escrow are its HTTP, tokenizing and TaskOpen)`,
    )
    print(
      table([
        ['stage', 'since sent', 'step'],
        ...rows.map(([stage, t], i) => [stage, ms(t), ms(t - (i === 0 ? 0 : rows[i - 1]![1]))]),
      ]),
    )
  } finally {
    await stop()
  }
}

const BIG_MODEL = resolve(ROOT, process.env.BENCH_MODEL ?? join('build', 'models', 'gpt2-random-100m'))

/** The ≥100M-parameter decoder's folder, built by its script when absent; null when that fails. */
function bigModel(): string | null {
  if (existsSync(join(BIG_MODEL, 'manifest.json'))) return BIG_MODEL
  if (process.env.BENCH_MODEL !== undefined) return null
  progress(`building ${BIG_MODEL} (scripts/model/random-decoder.mjs, about 400 MB, seconds)`)
  const r = spawnSync(
    process.execPath,
    [join(ROOT, 'scripts', 'model', 'random-decoder.mjs'), '--out', BIG_MODEL],
    { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] },
  )
  return r.status === 0 ? BIG_MODEL : null
}

/**
 * Prefill and decode tokens/s of the big decoder on each provider there is here: a 128-token
 * prompt (prefill: up to the first token), then 64 tokens greedy (decode), medians of 3 after a
 * warm-up, the engine as the daemon runs it (spinning off, onnxruntime's thread count).
 */
async function providers(): Promise<void> {
  const dir = bigModel()
  if (dir === null) {
    print(`\nCPU against GPU: no model at ${BIG_MODEL}, and it could not be built`)
    return
  }
  const why = await webgpuUnavailable()
  const list: ExecutionProvider[] = why === null ? ['cpu', 'webgpu'] : ['cpu']
  const rows: string[][] = [['provider', 'load', 'prefill tok/s', 'decode tok/s']]
  const figures = new Map<ExecutionProvider, { prefill: number; decode: number }>()
  let title = ''
  for (const provider of list) {
    progress(`${provider}: loading ${dir}`)
    const t0 = performance.now()
    const engine = await Engine.start({
      models: [dir],
      maxActive: 1,
      maxQueue: 1,
      spinning: false,
      executionProvider: provider,
    })
    const loadMs = performance.now() - t0
    try {
      const model = engine.models()[0]!
      const text = Array.from({ length: 8 }, () => PROMPT).join(' ')
      const prompt = model.encode(text).slice(0, 128)
      const n = 64
      title = `${model.id}, ${(model.manifest.unitsPerToken / 2 / 1000).toFixed(1)}M parameters; prompt ${prompt.length} tokens, ${n} generated`
      await engineRun(engine, model, prompt, 8)
      const pre: number[] = []
      const dec: number[] = []
      for (let i = 0; i < 3; i++) {
        progress(`${provider}: run ${i + 1} of 3`)
        const r = await engineRun(engine, model, prompt, n)
        pre.push((prompt.length * 1000) / r.prefillMs)
        dec.push((r.decoded * 1000) / r.decodeMs)
      }
      figures.set(provider, { prefill: median(pre), decode: median(dec) })
      rows.push([provider, ms(loadMs), num(median(pre), 0), num(median(dec), 1)])
    } finally {
      await engine.stop()
    }
  }
  const cpu = figures.get('cpu')
  const gpu = figures.get('webgpu')
  if (cpu !== undefined && gpu !== undefined)
    rows.push(['GPU / CPU', '', num(gpu.prefill / cpu.prefill, 2), num(gpu.decode / cpu.decode, 2)])
  print(`\nCPU against GPU (${title})`)
  print(table(rows))
  if (why !== null) print(`No GPU figures: onnxruntime's WebGPU provider did not start here (${why}).`)
  await logitNoise(dir, list)
}

/**
 * What the replay check's near-tie epsilon must cover, on this model: the largest logit
 * difference between KV-cache generation and a teacher-forced pass on the CPU, and between the
 * CPU's and the GPU's teacher-forced passes, over 64 greedy positions; and the smallest top-2 gap.
 */
async function logitNoise(dir: string, list: ExecutionProvider[]): Promise<void> {
  progress('logit differences between the providers')
  const model = await TextModel.load(dir)
  const V = model.spec.vocab
  const prompt = model.encode(PROMPT).slice(0, 32)
  const n = 64
  const cpu = await OrtDecoder.open(dir, model.spec, { provider: 'cpu' })
  const steps: Float32Array[] = []
  const tokens: number[] = []
  let { logits, cache } = await cpu.step(cpu.emptyCache(), prompt)
  for (let i = 0; i < n; i++) {
    steps.push(logits)
    tokens.push(argmax(logits))
    if (i + 1 < n) ({ logits, cache } = await cpu.step(cache, [tokens[i]!]))
  }
  const ids = [...prompt, ...tokens.slice(0, n - 1)]
  const forced = (await cpu.score(ids, prompt.length - 1)).slice()
  await cpu.close()
  let kv = 0
  let gap = Infinity
  for (let i = 0; i < n; i++) {
    const row = forced.subarray(i * V, (i + 1) * V)
    let a = -Infinity
    let b = -Infinity
    for (let j = 0; j < V; j++) {
      kv = Math.max(kv, Math.abs(row[j]! - steps[i]![j]!))
      if (row[j]! > a) [a, b] = [row[j]!, a]
      else if (row[j]! > b) b = row[j]!
    }
    gap = Math.min(gap, a - b)
  }
  const rows = [
    ['measure', 'value'],
    ['KV-cache steps vs teacher-forced pass, CPU', kv.toExponential(2)],
  ]
  if (list.includes('webgpu')) {
    const gpu = await OrtDecoder.open(dir, model.spec, { provider: 'webgpu' })
    const other = await gpu.score(ids, prompt.length - 1)
    await gpu.close()
    let d = 0
    let flips = 0
    for (let i = 0; i < n; i++) {
      const a = forced.subarray(i * V, (i + 1) * V)
      const b = other.subarray(i * V, (i + 1) * V)
      for (let j = 0; j < V; j++) d = Math.max(d, Math.abs(a[j]! - b[j]!))
      if (argmax(a) !== argmax(b)) flips++
    }
    rows.push(['teacher-forced pass, CPU vs GPU', d.toExponential(2)])
    rows.push(['argmax disagreements, CPU vs GPU', String(flips)])
  }
  rows.push(['smallest top-2 gap', gap.toExponential(2)])
  rows.push(['replay epsilon (DEFAULT_REPLAY_EPSILON.logit)', DEFAULT_REPLAY_EPSILON.logit.toExponential(2)])
  print(`\nLogit differences on ${model.id} (${n} greedy positions after a ${prompt.length}-token prompt)`)
  print(table(rows))
}

/**
 * The most that batching can give the throughput runs' workload (PROMPT, then ANSWER_TOKENS
 * tokens): the decoder alone on this thread, its prefill of PROMPT alone and MOST_CLIENTS at a
 * time, and an answer's decoding steps alone and with MOST_CLIENTS sequences (medians of three
 * rounds). One client's answer costs a prefill and n − 1 single steps; MOST_CLIENTS clients' cost
 * at best the cheaper prefill and n − 1 shares of a MOST_CLIENTS-sequence step each. That bounds
 * the decoder time per answer, so the throughput runs' tokens per CPU-second; tokens/s can go
 * further only by putting the rest of the work (sampling, detokenizing, messages, garbage
 * collection, the network) on the other core, which one client leaves idle.
 * BENCH_TOKENS must leave PROMPT room in the context.
 */
async function ceiling(): Promise<void> {
  progress(`the decoder alone: prefill and decoding steps, 1 and ${MOST_CLIENTS} at a time`)
  const model = await TextModel.load(MODEL_DIR)
  const decoder = await OrtDecoder.open(MODEL_DIR, model.spec, { spinning: false })
  await decoder.inPlaceReady()
  const prompt = model.encode(PROMPT)
  const n = ANSWER_TOKENS
  /** ms per prompt of prefilling `b` prompts together. */
  const prefill = async (b: number): Promise<number> => {
    const t0 = performance.now()
    const out =
      b === 1
        ? [await decoder.step(decoder.emptyCache(), prompt)]
        : await decoder.prefillBatch(Array.from({ length: b }, () => prompt))
    const perPrompt = (performance.now() - t0) / b
    for (const o of out) decoder.release(o.cache)
    return perPrompt
  }
  /** ms per token of `b` sequences decoding an answer's n − 1 steps together after PROMPT. */
  const decode = async (b: number): Promise<number> => {
    let caches = (await decoder.prefillBatch(Array.from({ length: b }, () => prompt))).map((o) => o.cache)
    const t0 = performance.now()
    for (let i = 0; i < n - 1; i++) {
      const tokens = caches.map(() => prompt[i % prompt.length]!)
      caches = (await decoder.decodeBatch(caches, tokens, false)).map((o) => o.cache)
    }
    for (const c of caches) decoder.release(c)
    return (performance.now() - t0) / (n - 1) / b
  }
  // Alone and 16 together in turns (this machine's speed drifts), a warm-up round first; medians.
  const runs: Array<[number, number, number, number]> = []
  for (let round = 0; round < 4; round++) {
    const r: [number, number, number, number] = [
      await prefill(1),
      await prefill(MOST_CLIENTS),
      await decode(1),
      await decode(MOST_CLIENTS),
    ]
    if (round > 0) runs.push(r)
  }
  const med = (i: number): number => median(runs.map((r) => r[i]!))
  const [p1, p16, d1, d16] = [med(0), med(1), med(2), med(3)]
  await decoder.close()
  const one = p1 + (n - 1) * d1
  const many = Math.min(p1, p16) + (n - 1) * d16
  print(
    `\nWhat batching can give at most (${model.id} on this thread; a ${prompt.length}-token prompt, then ${n} tokens)`,
  )
  print(
    table([
      ['', 'alone', `${MOST_CLIENTS} together`, 'ratio'],
      ['prefill, ms per prompt', ms(p1), ms(p16), `${num(p1 / p16, 2)}×`],
      ['decoding, ms per token', ms(d1), ms(d16), `${num(d1 / d16, 2)}×`],
      [
        `one answer of ${n} tokens, ms of decoder time`,
        ms(one),
        ms(many),
        `${num(one / many, 2)}× (the most batching divides it by)`,
      ],
    ]),
  )
}

const run = pickSections(['engine', 'ceiling', 'network', 'stages', 'providers'])
if (run('engine')) await engineVersusMinimal()
if (run('ceiling')) await ceiling()
if (run('network')) await network()
if (run('stages')) await stages()
if (run('providers')) await providers()
