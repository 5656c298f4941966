// `npm run bench:verify -- batch`: throughput of a batch job against single requests, same model
// (kjv-small), same devnet, same run (issue 13, "Benchmark"). Printed, never asserted.
//  - a devnet of 2 daemon processes (`cordex devnet --peers 2 --api`): peer 0 a gateway without an
//    engine, peer 1 the executor; Race workers off;
//  - BENCH_TASKS (default 16) completions (temperature 0, max_tokens 32, prompts in turn from a
//    short list), sent three ways through peer 0's TCP API: one after another; as ONE batch job
//    (upload the JSONL, create, poll every POLL_MS until completed, read the output file), timed
//    from the upload to the poll that sees it completed; and by BATCH_CONCURRENCY clients at once,
//    which is what the batch's default `batch.concurrency` amounts to (a 503 is retried after its
//    Retry-After, as the `openai` package does, and counted);
//  - output tokens/s of each (usage.completion_tokens over wall time), the ratios to the
//    sequential single requests, and how many texts of the batch (and of the concurrent clients)
//    equal the sequential ones (greedy: all should).
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readApiToken } from '../src/node/index.js'
import { DEFAULT_BATCH_OPTIONS } from '../src/node/batch/options.js'
import { CORDEX, DaemonProcess, waitFor, writeGatewayExecutor } from './lib/daemons.js'
import { print, progress, table, num, ms } from './lib/report.js'
import { sleep } from './lib/stats.js'

const TASKS = Number(process.env.BENCH_TASKS ?? 16)
const MAX_TOKENS = 32
const BATCH_CONCURRENCY = DEFAULT_BATCH_OPTIONS.concurrency
const POLL_MS = 100
const PROMPTS = [
  'In the beginning',
  'And God said,',
  'Blessed is the man',
  'The LORD is my shepherd;',
  'And it came to pass',
  'Now the serpent was more subtil',
  'For God so loved the world,',
  'Vanity of vanities, saith the Preacher,',
]

/** The gateway's TCP listener and the bearer token it requires. */
interface Gateway {
  url: string
  token: string
}

/** What one completion gave: its text and its output tokens. */
interface Answer {
  text: string
  tokens: number
}

interface CompletionBody {
  choices: Array<{ text: string }>
  usage: { completion_tokens: number }
}

interface BatchView {
  id: string
  status: string
  output_file_id: string | null
  error_file_id: string | null
  request_counts: { total: number; completed: number; failed: number }
}

interface OutputLine {
  custom_id: string
  response: { status_code: number; body: CompletionBody } | null
  error: { code: string; message: string } | null
}

const body = (i: number): Record<string, unknown> => ({
  model: 'kjv-small',
  prompt: PROMPTS[i % PROMPTS.length],
  max_tokens: MAX_TOKENS,
  temperature: 0,
})

/** Times a client retries a 503 after its Retry-After, as the `openai` package does by default. */
const MAX_RETRIES = 5
let retried = 0

async function call<T>(gw: Gateway, method: string, path: string, payload?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: { authorization: `Bearer ${gw.token}` } }
  if (payload instanceof FormData) init.body = payload
  else if (payload !== undefined) {
    init.body = JSON.stringify(payload)
    init.headers = { ...init.headers, 'content-type': 'application/json' }
  }
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(`${gw.url}${path}`, init)
    const text = await res.text()
    if (res.status === 503 && attempt < MAX_RETRIES) {
      retried++
      await sleep(Number(res.headers.get('retry-after') ?? 1) * 1000)
      continue
    }
    if (res.status !== 200) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`)
    return (path.endsWith('/content') ? text : JSON.parse(text)) as T
  }
}

async function single(gw: Gateway, i: number): Promise<Answer> {
  const r = await call<CompletionBody>(gw, 'POST', '/v1/completions', body(i))
  return { text: r.choices[0]!.text, tokens: r.usage.completion_tokens }
}

/** Requests 0..n-1 by `clients` clients at once, each taking the next index; answers in index order. */
async function singles(gw: Gateway, n: number, clients: number): Promise<{ answers: Answer[]; ms: number }> {
  const answers: Answer[] = []
  let next = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = next++; i < n; i = next++) answers[i] = await single(gw, i)
    }),
  )
  return { answers, ms: performance.now() - t0 }
}

/** The n requests as one batch job: upload, create, poll until done, read the output file. */
async function batch(gw: Gateway, n: number): Promise<{ answers: Answer[]; ms: number; view: BatchView }> {
  const lines = Array.from({ length: n }, (_, i) => ({
    custom_id: `r${i}`,
    method: 'POST',
    url: '/v1/completions',
    body: body(i),
  }))
  const form = new FormData()
  form.append('purpose', 'batch')
  form.append('file', new Blob([lines.map((l) => JSON.stringify(l)).join('\n') + '\n']), 'bench.jsonl')
  const t0 = performance.now()
  const file = await call<{ id: string }>(gw, 'POST', '/v1/files', form)
  const created = await call<BatchView>(gw, 'POST', '/v1/batches', {
    input_file_id: file.id,
    endpoint: '/v1/completions',
    completion_window: '24h',
  })
  let view = created
  while (!['completed', 'failed', 'cancelled', 'expired'].includes(view.status)) {
    await sleep(POLL_MS)
    view = await call<BatchView>(gw, 'GET', `/v1/batches/${created.id}`)
  }
  const elapsed = performance.now() - t0
  if (view.status !== 'completed') throw new Error(`batch ${view.id} ended ${view.status}`)
  const answers: Answer[] = []
  if (view.output_file_id !== null) {
    const text = await call<string>(gw, 'GET', `/v1/files/${view.output_file_id}/content`)
    for (const l of text.split('\n').filter((x) => x !== '')) {
      const o = JSON.parse(l) as OutputLine
      const b = o.response?.body
      if (b !== undefined)
        answers[Number(o.custom_id.slice(1))] = {
          text: b.choices[0]!.text,
          tokens: b.usage.completion_tokens,
        }
    }
  }
  return { answers, ms: elapsed, view }
}

const tokensOf = (xs: Answer[]): number => xs.reduce((s, x) => s + (x?.tokens ?? 0), 0)
const matches = (xs: Answer[], ref: Answer[]): number =>
  ref.filter((r, i) => xs[i] !== undefined && xs[i]!.text === r.text).length

export async function batchThroughput(): Promise<void> {
  const base = mkdtempSync(join(tmpdir(), 'cordex-bench-batch-'))
  writeGatewayExecutor(base)
  progress('starting a gateway and an executor daemon (Race workers off)')
  // CORDEX_EXIT_WITH_PARENT: a benchmark killed outright leaves no devnet behind (its daemons follow).
  const devnet = spawn(
    process.execPath,
    [CORDEX, 'devnet', '--peers', '2', '--api', '--base-dir', base, '--json'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, CORDEX_EXIT_WITH_PARENT: '1' },
    },
  )
  const gone = new Promise((r) => devnet.once('exit', r))
  let out = ''
  devnet.stdout.on('data', (d: Buffer) => (out += d.toString()))
  try {
    const url = await waitFor('the devnet', async () => {
      if (devnet.exitCode !== null) throw new Error(`cordex devnet exited ${devnet.exitCode}`)
      const line = out.split('\n').find((l) => l.includes('"event":"ready"'))
      return line === undefined
        ? undefined
        : (JSON.parse(line) as { peers: Array<{ apiUrl: string }> }).peers[0]!.apiUrl
    })
    const gw: Gateway = { url, token: await readApiToken(join(base, 'peer-0')) }
    await waitFor('the host announcement', async () => {
      const m = await call<{ data: Array<{ cordex: { hosts: number } }> }>(gw, 'GET', '/v1/models')
      return m.data[0]?.cordex.hosts === 1 ? true : undefined
    })
    progress('warm-up')
    for (let i = 0; i < Math.min(PROMPTS.length, TASKS); i++) await single(gw, i)

    progress(`${TASKS} single requests, one after another`)
    const seq = await singles(gw, TASKS, 1)
    progress(`the same ${TASKS} requests as one batch job`)
    const job = await batch(gw, TASKS)
    progress(`the same ${TASKS} requests by ${BATCH_CONCURRENCY} concurrent clients`)
    const conc = await singles(gw, TASKS, BATCH_CONCURRENCY)

    const rate = (xs: Answer[], t: number): number => (tokensOf(xs) * 1000) / t
    const seqRate = rate(seq.answers, seq.ms)
    const row = (name: string, r: { answers: Answer[]; ms: number }, texts: string): string[] => [
      name,
      String(r.answers.filter((a) => a !== undefined).length),
      String(tokensOf(r.answers)),
      ms(r.ms),
      num(rate(r.answers, r.ms), 1),
      num(rate(r.answers, r.ms) / seqRate, 2),
      texts,
    ]
    const c = job.view.request_counts
    print(
      `\nBatch job against single requests (kjv-small, ${TASKS} completions, max_tokens ${MAX_TOKENS}, greedy, ` +
        `${PROMPTS.length} prompts in turn; one gateway without engine, one executor; batch polled every ${POLL_MS} ms)`,
    )
    print(
      table([
        ['', 'answered', 'output tokens', 'wall time', 'tokens/s', 'ratio to single', 'texts = single'],
        row('single requests, one at a time', seq, '—'),
        row(
          `one batch job (concurrency ${BATCH_CONCURRENCY})`,
          job,
          `${matches(job.answers, seq.answers)}/${TASKS}`,
        ),
        row(
          `single requests, ${BATCH_CONCURRENCY} clients at once`,
          conc,
          `${matches(conc.answers, seq.answers)}/${TASKS}`,
        ),
      ]),
    )
    print(`batch ${job.view.id}: ${c.completed} completed, ${c.failed} failed of ${c.total}`)
    print(`single requests answered 503 gateway_busy and retried after Retry-After: ${retried}`)
  } catch (err) {
    // The daemons' logs go with the temporary folder: show what they said at warn and above first.
    for (const i of [0, 1])
      progress(
        `peer-${i} log (warn and above):\n${new DaemonProcess(i, join(base, `peer-${i}`), '').logTail(10)}`,
      )
    throw err
  } finally {
    if (devnet.exitCode === null && devnet.signalCode === null) devnet.kill('SIGTERM')
    await gone
    rmSync(base, { recursive: true, force: true })
  }
}
