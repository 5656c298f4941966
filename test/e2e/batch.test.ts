import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import OpenAI, { toFile } from 'openai'
import { Agent, fetch as undiciFetch } from 'undici'
import { TestDaemon, waitForHosts } from '../helpers/daemon.js'
import { tempDir, waitFor, cordex } from '../helpers/cli.js'
import { startDevnet, type RunningDevnet } from '../helpers/devnet.js'

// Batch jobs (OpenAI's Batch API) on one devnet of 2 daemons, both hosting the model; the client
// talks to peer 0 over its Unix socket with the `openai` package, as existing client code would.
// Peer 0 runs one line at a time (batch.concurrency 1), so that a job is still running when the
// test cancels it, and takes files of at most 4096 bytes, so that an oversized one is cheap to send.

const dir = tempDir()
const base = join(dir.path, 'net')
const dataDir = join(base, 'peer-0')
let devnet: RunningDevnet
let gateway: TestDaemon
let client: OpenAI

interface Line {
  custom_id: string
  method: 'POST'
  url: '/v1/chat/completions' | '/v1/completions'
  body: Record<string, unknown>
}
interface OutputLine {
  id: string
  custom_id: string
  response: { status_code: number; request_id: string; body: Record<string, unknown> } | null
  error: { code: string; message: string } | null
}
type Batch = OpenAI.Batches.Batch & {
  cordex: { tasks: number; verification: Record<string, number>; chain: Record<string, number> }
}

const chat = (id: string, content: string): Line => ({
  custom_id: id,
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model: 'kjv-small', messages: [{ role: 'user', content }], max_tokens: 6, temperature: 0 },
})
const completion = (id: string, prompt: string): Line => ({
  custom_id: id,
  method: 'POST',
  url: '/v1/completions',
  body: { model: 'kjv-small', prompt, max_tokens: 6, temperature: 0 },
})
const LINES: Line[] = [
  chat('c1', 'Who made the heaven and the earth?'),
  completion('p1', 'In the beginning'),
  chat('c2', 'Blessed is the man'),
  completion('p2', 'And God said,'),
]
const jsonl = (lines: unknown[]): Buffer => Buffer.from(lines.map((l) => JSON.stringify(l)).join('\n') + '\n')
const parse = (text: string): OutputLine[] =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as OutputLine)

/** The text of a completion or chat completion body. */
function textOf(body: Record<string, unknown>): string {
  const choice = (body.choices as Array<{ text?: string; message?: { content: string } }>)[0]!
  return choice.message?.content ?? choice.text ?? ''
}

async function upload(lines: unknown[], name = 'in.jsonl'): Promise<string> {
  return (await client.files.create({ file: await toFile(jsonl(lines), name), purpose: 'batch' })).id
}

async function finished(id: string): Promise<Batch> {
  return waitFor(
    `batch ${id} to finish`,
    async () => {
      const b = (await client.batches.retrieve(id)) as Batch
      return ['completed', 'failed', 'cancelled', 'expired'].includes(b.status) ? b : undefined
    },
    120_000,
  )
}

/**
 * The `openai` package over a Unix socket (undici's Agent). Uploads go as the global FormData,
 * which this undici's fetch does not take from another undici: it is encoded here with the
 * global Response, as the package's own fetch would encode it over TCP.
 */
function socketClient(socketPath: string): OpenAI {
  const agent = new Agent({ connect: { socketPath } })
  const fetch = async (url: string, init: Record<string, unknown>): Promise<unknown> => {
    if (!(init.body instanceof FormData)) return undiciFetch(url, { ...init, dispatcher: agent } as never)
    const encoded = new Response(init.body)
    const headers = new Headers(init.headers as ConstructorParameters<typeof Headers>[0])
    headers.set('content-type', encoded.headers.get('content-type')!)
    headers.delete('content-length')
    const body = Buffer.from(await encoded.arrayBuffer())
    return undiciFetch(url, {
      ...init,
      headers: Object.fromEntries(headers),
      body,
      dispatcher: agent,
    } as never)
  }
  // The package checks that a fetch can send FormData with the Response it names.
  return new OpenAI({
    baseURL: 'http://localhost/v1',
    apiKey: 'none',
    maxRetries: 0,
    fetch: Object.assign(fetch, { Response }) as never,
  })
}

before(async () => {
  mkdirSync(dataDir, { recursive: true })
  writeFileSync(
    join(dataDir, 'config.json'),
    JSON.stringify({ network: 'devnet', batch: { maxFileBytes: 4096, concurrency: 1 } }),
  )
  devnet = await startDevnet(base, 2)
  gateway = new TestDaemon(dataDir)
  client = socketClient(gateway.socket)
  await waitForHosts(gateway, 2)
})

after(async () => {
  await devnet?.stop()
  dir.cleanup()
})

test('a batch submitted with the openai package completes, and each answer is the one the request gets alone', async () => {
  const fileId = await upload(LINES)
  const meta = await client.files.retrieve(fileId)
  assert.equal(meta.purpose, 'batch')
  assert.equal(meta.bytes, jsonl(LINES).length)
  const created = (await client.batches.create({
    input_file_id: fileId,
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
    metadata: { test: 'e2e' },
  })) as Batch
  assert.equal(created.status, 'in_progress')
  assert.equal(created.request_counts?.total, 4)
  const done = await finished(created.id)
  assert.equal(done.status, 'completed')
  assert.deepEqual(done.request_counts, { total: 4, completed: 4, failed: 0 })
  assert.equal(done.error_file_id, null)
  assert.deepEqual(done.metadata, { test: 'e2e' })
  assert.equal(done.cordex.tasks, 4, 'the audit counts every task of the batch')
  const counted = Object.values(done.cordex.verification).reduce((a, b) => a + b, 0)
  assert.equal(counted, 4)

  const out = parse(await (await client.files.content(done.output_file_id!)).text())
  assert.deepEqual(
    out.map((o) => o.custom_id),
    LINES.map((l) => l.custom_id),
    'the output is in file order',
  )
  for (const [i, o] of out.entries()) {
    const line = LINES[i]!
    assert.equal(o.error, null)
    assert.equal(o.response?.status_code, 200)
    const body = o.response!.body
    assert.equal(body.object, line.url === '/v1/chat/completions' ? 'chat.completion' : 'text_completion')
    const c = body.cordex as { task_id: string; executor: string; verification: string }
    assert.match(c.task_id, /^[0-9a-f]{64}$/)
    assert.ok(c.executor.length > 0)
    // The same request alone, through the single-request endpoint, gets the same text.
    const alone =
      line.url === '/v1/chat/completions'
        ? await client.chat.completions.create(line.body as never)
        : await client.completions.create(line.body as never)
    assert.equal(textOf(body), textOf(alone as unknown as Record<string, unknown>), `line ${line.custom_id}`)
    // Each line is an ordinary task this gateway keeps a record of.
    const task = await gateway.get<{ taskId: string; verification: string }>(`/tasks/${c.task_id}`)
    assert.equal(task.status, 200)
  }

  const listed = await client.batches.list({ limit: 10 })
  assert.ok(listed.data.some((b) => b.id === created.id))
})

test('a bad upload is refused with a 400 naming the line; an oversized one with a 413; nothing is stored', async () => {
  const before = (await client.files.list()).data.length
  const bad = [LINES[0], { ...LINES[1], body: { model: 'kjv-small', prompt: 'x', max_tokens: 'many' } }]
  await assert.rejects(upload(bad), (err: unknown) => {
    assert.ok(err instanceof OpenAI.APIError)
    assert.equal(err.status, 400)
    assert.match(err.message, /line 2: max_tokens must be an integer/)
    return true
  })
  const big = Array.from({ length: 40 }, (_, i) => completion(`p${i}`, 'And it came to pass'))
  await assert.rejects(upload(big), (err: unknown) => {
    assert.ok(err instanceof OpenAI.APIError)
    assert.equal(err.status, 413)
    assert.match(err.message, /over the limit of 4096/)
    return true
  })
  assert.equal((await client.files.list()).data.length, before, 'nothing was stored')
  await assert.rejects(client.batches.retrieve('batch_nope'), (err: unknown) => {
    assert.ok(err instanceof OpenAI.NotFoundError)
    return true
  })
})

test('a batch naming a model not served fails validation with the line; nothing runs', async () => {
  const fileId = await upload([LINES[1], { ...LINES[3], body: { ...LINES[3]!.body, model: 'gpt-4o' } }])
  const b = (await client.batches.create({
    input_file_id: fileId,
    endpoint: '/v1/completions',
    completion_window: '24h',
  })) as Batch
  assert.equal(b.status, 'failed')
  assert.equal(b.errors?.data?.[0]?.code, 'model_not_found')
  assert.equal(b.errors?.data?.[0]?.line, 2)
  assert.deepEqual(b.request_counts, { total: 2, completed: 0, failed: 0 })
})

test('cancelling a running batch stops it; what finished is kept', async () => {
  const lines = Array.from({ length: 8 }, (_, i) => completion(`k${i}`, `And it came to pass ${i}`))
  const fileId = await upload(lines)
  const b = await client.batches.create({
    input_file_id: fileId,
    endpoint: '/v1/completions',
    completion_window: '24h',
  })
  const cancelling = await client.batches.cancel(b.id)
  assert.ok(['cancelling', 'cancelled'].includes(cancelling.status), cancelling.status)
  const done = await finished(b.id)
  assert.equal(done.status, 'cancelled')
  const c = done.request_counts!
  assert.ok(c.completed + c.failed < c.total, `not every line ran: ${JSON.stringify(c)}`)
  const out = done.output_file_id ? parse(await (await client.files.content(done.output_file_id)).text()) : []
  assert.equal(out.length, c.completed)
  assert.equal((await client.batches.cancel(b.id)).status, 'cancelled', 'a second cancel is no error')
})

test('cordex batch submit, status and results', async () => {
  const file = join(dir.path, 'cli.jsonl')
  writeFileSync(file, jsonl(LINES.slice(0, 2)))
  const submit = await cordex(['batch', 'submit', file, '--data-dir', dataDir])
  assert.equal(submit.code, 0, submit.stderr)
  const id = submit.stdout.trim()
  assert.match(id, /^batch_[0-9a-f]+$/)
  const done = await waitFor(
    'the CLI batch to complete',
    async () => {
      const r = await cordex(['batch', 'status', id, '--data-dir', dataDir, '--json'])
      const b = JSON.parse(r.stdout) as Batch
      return b.status === 'completed' ? b : undefined
    },
    120_000,
  )
  assert.deepEqual(done.request_counts, { total: 2, completed: 2, failed: 0 })
  const status = await cordex(['batch', 'status', id, '--data-dir', dataDir])
  assert.match(status.stdout, /status\s+completed/)
  assert.match(status.stdout, /requests\s+2: 2 completed, 0 failed/)
  const results = await cordex(['batch', 'results', id, '--data-dir', dataDir])
  assert.equal(results.code, 0, results.stderr)
  const out = parse(results.stdout)
  assert.deepEqual(
    out.map((o) => o.custom_id),
    ['c1', 'p1'],
  )
  assert.ok(out.every((o) => o.response?.status_code === 200))
  const unknown = await cordex(['batch', 'status', 'batch_nope', '--data-dir', dataDir])
  assert.equal(unknown.code, 6)
  assert.match(unknown.stderr, /no batch batch_nope/)
})
