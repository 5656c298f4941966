// `npm run bench:infer`: inference speed, printed, never asserted.
//  - the engine's prefill and decode tokens/s against a minimal onnxruntime greedy loop over the same
//    model files, in the same run (ratio; target ≥ 0.9);
//  - time to first token and total time of a request through a gateway and an executor daemon on
//    loopback, against a direct engine call in the same run (overhead; target < 2 ms at the median);
//  - throughput with 1, 4 and 16 concurrent clients.
// BENCH_SECONDS (default 8) bounds each throughput measurement; BENCH_REQUESTS (default 30) the
// latency samples.
import ort from 'onnxruntime-node'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Engine, GREEDY, argmax, type TextModel } from '../src/engine/index.js'
import { print, progress, table, num, ms } from './lib/report.js'
import { summarize } from './lib/stats.js'
import { ROOT, CORDEX } from './lib/daemons.js'
import { readApiToken } from '../src/node/index.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8)
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
}

/** The gateway's TCP listener and the bearer token it requires. */
interface Gateway {
  url: string
  token: string
}

/** One streamed completion through the gateway's TCP listener. */
async function viaGateway(gw: Gateway, maxTokens: number): Promise<Streamed> {
  const t0 = performance.now()
  const res = await fetch(`${gw.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${gw.token}` },
    body: JSON.stringify({
      model: 'kjv-small',
      prompt: PROMPT,
      max_tokens: maxTokens,
      temperature: 0,
      stream: true,
    }),
  })
  let ttft = 0
  let tokens = 0
  const decoder = new TextDecoder()
  let buf = ''
  for await (const chunk of res.body!) {
    buf += decoder.decode(chunk as Uint8Array, { stream: true })
    if (ttft === 0 && buf.includes('"text":"') && !buf.includes('"text":""')) ttft = performance.now() - t0
    const m = /"completion_tokens":(\d+)/.exec(buf)
    if (m !== null) tokens = Number(m[1])
  }
  if (res.status !== 200) throw new Error(`gateway answered ${res.status}: ${buf.slice(0, 200)}`)
  return { ttftMs: ttft || performance.now() - t0, totalMs: performance.now() - t0, tokens }
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

async function waitFor<T>(what: string, check: () => Promise<T | undefined>, ms = 120_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined) return v
    } catch {
      // not yet
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

async function network(): Promise<void> {
  progress('starting a gateway and an executor daemon (Race workers off)')
  const base = join(tmpdir(), `cordex-bench-infer-${process.pid}`)
  rmSync(base, { recursive: true, force: true })
  for (const [i, extra] of [
    [0, { engine: { enabled: false }, genesis: { params: { minTxFee: '0' } } }],
    [1, {}],
  ] as const) {
    mkdirSync(join(base, `peer-${i}`), { recursive: true })
    writeFileSync(
      join(base, `peer-${i}`, 'config.json'),
      JSON.stringify({ network: 'devnet', raceWorker: { enabled: false }, log: { level: 'warn' }, ...extra }),
    )
  }
  const devnet = spawn(
    process.execPath,
    [CORDEX, 'devnet', '--peers', '2', '--api', '--base-dir', base, '--json'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  let out = ''
  devnet.stdout.on('data', (d: Buffer) => (out += d.toString()))
  try {
    const url = await waitFor('the devnet', async () => {
      const line = out.split('\n').find((l) => l.includes('"event":"ready"'))
      return line === undefined
        ? undefined
        : (JSON.parse(line) as { peers: Array<{ apiUrl: string }> }).peers[0]!.apiUrl
    })
    const gw: Gateway = { url, token: await readApiToken(join(base, 'peer-0')) }
    await waitFor('the host announcement', async () => {
      const res = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${gw.token}` } })
      const m = (await res.json()) as {
        data: Array<{ cordex: { hosts: number } }>
      }
      return m.data[0]?.cordex.hosts === 1 ? true : undefined
    })
    const engine = await Engine.start({ models: [MODEL_DIR], maxActive: 4, maxQueue: 64, spinning: false })
    const model = engine.models()[0]!
    await viaGateway(gw, 8)
    await direct(engine, model, 8)
    progress(`${REQUESTS} requests each way`)
    const net: Streamed[] = []
    const loc: Streamed[] = []
    for (let i = 0; i < REQUESTS; i++) {
      net.push(await viaGateway(gw, 32))
      loc.push(await direct(engine, model, 32))
    }
    await engine.stop()
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
      ]),
    )

    const rows: string[][] = [['clients', 'requests', 'tokens/s', 'latency p50', 'latency p99']]
    for (const clients of [1, 4, 16]) {
      progress(`${clients} concurrent clients for ${SECONDS} s`)
      const lat: number[] = []
      let tokens = 0
      const t0 = performance.now()
      await Promise.all(
        Array.from({ length: clients }, async () => {
          while (performance.now() - t0 < SECONDS * 1000) {
            const r = await viaGateway(gw, 32)
            lat.push(r.totalMs)
            tokens += r.tokens
          }
        }),
      )
      const secs = (performance.now() - t0) / 1000
      const s = summarize(lat)
      rows.push([String(clients), String(lat.length), num(tokens / secs, 0), ms(s.p50), ms(s.p99)])
    }
    print(`\nThroughput through the gateway (32-token completions; one executor, engine.maxActive 4)`)
    print(table(rows))
  } finally {
    devnet.kill('SIGTERM')
    await new Promise((r) => devnet.once('exit', r))
    rmSync(base, { recursive: true, force: true })
  }
}

await engineVersusMinimal()
await network()
