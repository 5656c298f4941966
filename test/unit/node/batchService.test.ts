import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Level } from 'level'
import {
  BatchService,
  BatchStore,
  BatchError,
  checkLine,
  DEFAULT_BATCH_OPTIONS,
  type BatchLine,
  type ExecuteLine,
  type LineOutcome,
} from '../../../src/node/batch/index.js'
import { silentLogger } from '../../../src/util/logger.js'
import { tempDir } from '../../helpers/cli.js'

// The batch service on a real LevelDB with a fake gateway (`execute`) and timers that fire at
// once: what a user of the Batch API sees of a job, its output and error files, and what a restart
// does to a job left running.

const line = (id: string, model = 'kjv-small'): string =>
  JSON.stringify({
    custom_id: id,
    method: 'POST',
    url: '/v1/completions',
    body: { model, prompt: `prompt ${id}`, max_tokens: 4 },
  })
const file = (ids: string[]): Buffer => Buffer.from(ids.map((id) => line(id)).join('\n'))

const answer = (l: BatchLine): LineOutcome => ({
  ok: true,
  status: 200,
  body: { choices: [{ text: `answer to ${l.customId}` }] },
  taskId: `task-${l.customId}`,
})

/** A gateway whose answers the test releases one at a time. */
class FakeGateway {
  started: string[] = []
  inFlight = 0
  maxInFlight = 0
  private readonly waiting = new Map<string, (o: LineOutcome) => void>()
  constructor(
    private readonly auto: ((l: BatchLine, attempt: number) => LineOutcome | undefined) | null = null,
  ) {}
  private attempts = new Map<string, number>()

  execute: ExecuteLine = (l, signal) => {
    this.started.push(l.customId)
    const attempt = this.attempts.get(l.customId) ?? 0
    this.attempts.set(l.customId, attempt + 1)
    const now = this.auto?.(l, attempt)
    if (now !== undefined) return Promise.resolve(now)
    this.inFlight++
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight)
    return new Promise((resolve) => {
      const done = (o: LineOutcome): void => {
        this.inFlight--
        this.waiting.delete(l.customId)
        resolve(o)
      }
      this.waiting.set(l.customId, done)
      signal.addEventListener('abort', () =>
        done({ ok: false, status: 499, code: 'cancelled', message: 'the client went away' }),
      )
    })
  }

  release(id: string, o?: LineOutcome): void {
    const done = this.waiting.get(id)
    assert.ok(done !== undefined, `${id} is running`)
    done(o ?? answer({ customId: id } as BatchLine))
  }

  running(): string[] {
    return [...this.waiting.keys()]
  }
}

let ids = 0
function service(
  db: Level<string, Uint8Array>,
  gw: FakeGateway,
  opts: Partial<typeof DEFAULT_BATCH_OPTIONS> & { clock?: { now(): number } } = {},
) {
  const waits: number[] = []
  const svc = new BatchService(
    {
      store: new BatchStore(db),
      execute: gw.execute,
      check: checkLine,
      models: () => ['kjv-small'],
      clock: opts.clock ?? { now: () => 1_700_000_000_000 },
      setTimer: (fn, ms) => {
        waits.push(ms)
        setImmediate(fn)
        return () => {}
      },
      newId: (prefix) => `${prefix}${++ids}`,
      log: silentLogger(),
    },
    { ...DEFAULT_BATCH_OPTIONS, concurrency: 2, maxRetries: 2, retryBaseMs: 100, ...opts },
  )
  return { svc, waits }
}

/** Wait (in event-loop turns, not time) until `cond` holds. */
async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000; i++) {
    if (cond()) return
    await new Promise((r) => setImmediate(r))
  }
  assert.fail(`never: ${what}`)
}

async function withDb(fn: (path: string) => Promise<void>): Promise<void> {
  const dir = tempDir()
  try {
    await fn(join(dir.path, 'db'))
  } finally {
    dir.cleanup()
  }
}

const open = (path: string): Level<string, Uint8Array> =>
  new Level<string, Uint8Array>(path, { valueEncoding: 'view' })
const create = (svc: BatchService, inputFileId: string) =>
  svc.create({ inputFileId, endpoint: '/v1/completions', completionWindow: '24h', metadata: { run: 'unit' } })
const content = async (svc: BatchService, id: string | null): Promise<Array<Record<string, unknown>>> => {
  assert.ok(id !== null)
  return Buffer.from(await svc.files.content(id))
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
}

test('a job runs its lines in file order, a bounded number at once, and writes its output in file order', async () => {
  await withDb(async (path) => {
    const db = open(path)
    const gw = new FakeGateway()
    const { svc } = service(db, gw)
    await svc.start()
    const f = await svc.files.upload({
      filename: 'in.jsonl',
      purpose: 'batch',
      bytes: file(['a', 'b', 'c', 'd']),
    })
    assert.equal(f.purpose, 'batch')
    const job = await create(svc, f.id)
    assert.equal(job.status, 'in_progress')
    assert.deepEqual(job.metadata, { run: 'unit' })
    await until('two lines running', () => gw.running().length === 2)
    assert.deepEqual(gw.started, ['a', 'b'], 'the first lines of the file start first')
    // The second finishes first: its result is kept, and the next line of the file starts.
    gw.release('b')
    await until('c starts', () => gw.started.includes('c'))
    gw.release('a')
    await until('d starts', () => gw.started.includes('d'))
    gw.release('d', { ok: false, status: 400, code: 'context_length_exceeded', message: 'too long' })
    gw.release('c')
    await until('completed', () => svc.get(job.id).status === 'completed')
    assert.equal(gw.maxInFlight, 2)
    const done = svc.get(job.id)
    assert.deepEqual(done.counts, { total: 4, completed: 3, failed: 1 })
    const out = await content(svc, done.outputFileId)
    assert.deepEqual(
      out.map((o) => o.custom_id),
      ['a', 'b', 'c'],
    )
    const first = out[0] as { response: { status_code: number; body: unknown }; error: unknown }
    assert.equal(first.response.status_code, 200)
    assert.deepEqual(first.response.body, { choices: [{ text: 'answer to a' }] })
    assert.equal(first.error, null)
    const errors = await content(svc, done.errorFileId)
    assert.equal(errors.length, 1)
    assert.equal(errors[0]!.custom_id, 'd')
    assert.deepEqual(errors[0]!.error, { code: 'context_length_exceeded', message: 'too long' })
    assert.deepEqual((await svc.taskIds(job.id)).sort(), ['task-a', 'task-b', 'task-c'])
    assert.deepEqual(
      svc.files
        .list('batch_output')
        .map((m) => m.filename)
        .sort(),
      [`${job.id}_error.jsonl`, `${job.id}_output.jsonl`],
    )
    assert.deepEqual(
      svc.files.list('batch').map((m) => m.id),
      [f.id],
    )
    await svc.stop()
    await db.close()
  })
})

test('a line refused as busy is retried with a doubling backoff, then failed with the error in the error file', async () => {
  await withDb(async (path) => {
    const db = open(path)
    // `a` is busy twice then answers; `b` has no executor every time.
    const gw = new FakeGateway((l, attempt) => {
      if (l.customId === 'a')
        return attempt < 2
          ? { ok: false, status: 503, code: 'gateway_busy', message: 'saturated' }
          : answer(l)
      return { ok: false, status: 503, code: 'no_executor', message: 'no host announces it' }
    })
    const { svc, waits } = service(db, gw, { concurrency: 1 })
    await svc.start()
    const f = await svc.files.upload({ filename: 'in.jsonl', purpose: 'batch', bytes: file(['a', 'b']) })
    const job = await create(svc, f.id)
    await until('completed', () => svc.get(job.id).status === 'completed')
    assert.deepEqual(gw.started, ['a', 'a', 'a', 'b', 'b', 'b'], 'maxRetries 2: three tries each')
    assert.deepEqual(waits, [100, 200, 100, 200])
    const done = svc.get(job.id)
    assert.deepEqual(done.counts, { total: 2, completed: 1, failed: 1 })
    const errors = await content(svc, done.errorFileId)
    assert.deepEqual(errors[0]!.error, { code: 'no_executor', message: 'no host announces it' })
    assert.equal((errors[0]!.response as { status_code: number }).status_code, 503)
    await svc.stop()
    await db.close()
  })
})

test('a line naming a model not served fails the batch at validation, naming the line; nothing runs', async () => {
  await withDb(async (path) => {
    const db = open(path)
    const gw = new FakeGateway()
    const { svc } = service(db, gw)
    await svc.start()
    const bytes = Buffer.from(`${line('a')}\n${line('b', 'gpt-4o')}\n`)
    const f = await svc.files.upload({ filename: 'in.jsonl', purpose: 'batch', bytes })
    const job = await create(svc, f.id)
    assert.equal(job.status, 'failed')
    assert.equal(job.errors?.length, 1)
    assert.equal(job.errors?.[0]?.code, 'model_not_found')
    assert.equal(job.errors?.[0]?.line, 2)
    assert.match(job.errors?.[0]?.message ?? '', /line 2: the model 'gpt-4o'/)
    await new Promise((r) => setImmediate(r))
    assert.deepEqual(gw.started, [])
    await svc.stop()
    await db.close()
  })
})

test('unknown ids, a bad purpose, bad fields and an upload with a bad line are refused; nothing is stored', async () => {
  await withDb(async (path) => {
    const db = open(path)
    const { svc } = service(db, new FakeGateway())
    await svc.start()
    const code = async (fn: () => unknown): Promise<string> => {
      try {
        await fn()
      } catch (err) {
        assert.ok(err instanceof BatchError)
        return err.code
      }
      assert.fail('expected a refusal')
    }
    assert.equal(await code(() => svc.get('batch_nope')), 'NOT_FOUND')
    assert.equal(await code(() => svc.cancel('batch_nope')), 'NOT_FOUND')
    assert.equal(await code(() => svc.files.get('file-nope')), 'NOT_FOUND')
    assert.equal(await code(() => create(svc, 'file-nope')), 'NOT_FOUND')
    assert.equal(
      await code(() => svc.files.upload({ filename: 'x', purpose: 'fine-tune', bytes: file(['a']) })),
      'INVALID_VALUE',
    )
    assert.equal(
      await code(() =>
        svc.files.upload({ filename: 'x', purpose: 'batch', bytes: Buffer.from(`${line('a')}\nnot json\n`) }),
      ),
      'INVALID_FILE',
    )
    const f = await svc.files.upload({ filename: 'x', purpose: 'batch', bytes: file(['a']) })
    assert.equal(
      await code(() =>
        svc.create({
          inputFileId: f.id,
          endpoint: '/v1/embeddings',
          completionWindow: '24h',
          metadata: null,
        }),
      ),
      'INVALID_VALUE',
    )
    assert.equal(
      await code(() =>
        svc.create({
          inputFileId: f.id,
          endpoint: '/v1/completions',
          completionWindow: '1h',
          metadata: null,
        }),
      ),
      'INVALID_VALUE',
    )
    assert.equal(
      await code(() =>
        svc.create({
          inputFileId: f.id,
          endpoint: '/v1/completions',
          completionWindow: '24h',
          metadata: { n: 1 },
        }),
      ),
      'INVALID_VALUE',
    )
    await svc.stop()
    // Only the good file was stored.
    const { svc: again } = service(db, new FakeGateway())
    await again.start()
    assert.equal(again.files.get(f.id).id, f.id)
    assert.equal(again.list(undefined, 10).data.length, 0)
    await again.stop()
    await db.close()
  })
})

test('cancel stops the lines running, never starts the others, and keeps what finished', async () => {
  await withDb(async (path) => {
    const db = open(path)
    const gw = new FakeGateway()
    const { svc } = service(db, gw)
    await svc.start()
    const f = await svc.files.upload({
      filename: 'in.jsonl',
      purpose: 'batch',
      bytes: file(['a', 'b', 'c', 'd', 'e']),
    })
    const job = await create(svc, f.id)
    await until('two running', () => gw.running().length === 2)
    gw.release('a')
    await until('c starts', () => gw.running().includes('c'))
    const cancelling = await svc.cancel(job.id)
    assert.equal(cancelling.status, 'cancelling')
    await until('cancelled', () => svc.get(job.id).status === 'cancelled')
    assert.deepEqual(gw.started, ['a', 'b', 'c'], 'd and e never started')
    const done = svc.get(job.id)
    assert.deepEqual(done.counts, { total: 5, completed: 1, failed: 0 })
    assert.deepEqual(
      (await content(svc, done.outputFileId)).map((o) => o.custom_id),
      ['a'],
    )
    assert.equal(done.errorFileId, null)
    assert.equal((await svc.cancel(job.id)).status, 'cancelled', 'a second cancel is no error')
    await svc.stop()
    await db.close()
  })
})

test('a daemon restarted mid-job runs only the lines without a stored result', async () => {
  await withDb(async (path) => {
    let db = open(path)
    const gw = new FakeGateway()
    const first = service(db, gw, { concurrency: 2 })
    await first.svc.start()
    const f = await first.svc.files.upload({
      filename: 'in.jsonl',
      purpose: 'batch',
      bytes: file(['a', 'b', 'c', 'd']),
    })
    const job = await create(first.svc, f.id)
    await until('a and b running', () => gw.running().length === 2)
    gw.release('a')
    await until('c running', () => gw.running().includes('c'))
    // The daemon stops with b and c in flight: they are not recorded, so they run again.
    await first.svc.stop()
    await db.close()

    db = open(path)
    const gw2 = new FakeGateway((l) => answer(l))
    const second = service(db, gw2)
    await second.svc.start()
    await until('completed', () => second.svc.get(job.id).status === 'completed')
    assert.deepEqual(gw2.started, ['b', 'c', 'd'], 'a, whose result was stored, never ran again')
    assert.deepEqual((await second.svc.taskIds(job.id)).sort(), ['task-a', 'task-b', 'task-c', 'task-d'])
    const done = second.svc.get(job.id)
    assert.deepEqual(done.counts, { total: 4, completed: 4, failed: 0 })
    assert.deepEqual(
      (await content(second.svc, done.outputFileId)).map((o) => o.custom_id),
      ['a', 'b', 'c', 'd'],
    )
    await second.svc.stop()
    await db.close()
  })
})

test('batches list newest first, paginated with after and limit', async () => {
  await withDb(async (path) => {
    const db = open(path)
    const { svc } = service(db, new FakeGateway((l) => answer(l)))
    await svc.start()
    const f = await svc.files.upload({ filename: 'in.jsonl', purpose: 'batch', bytes: file(['a']) })
    const made: string[] = []
    for (let i = 0; i < 3; i++) made.push((await create(svc, f.id)).id)
    const page1 = svc.list(undefined, 2)
    assert.deepEqual(
      page1.data.map((j) => j.id),
      [made[2], made[1]],
    )
    assert.equal(page1.hasMore, true)
    const page2 = svc.list(page1.data[1]!.id, 2)
    assert.deepEqual(
      page2.data.map((j) => j.id),
      [made[0]],
    )
    assert.equal(page2.hasMore, false)
    await until('all done', () => made.every((id) => svc.get(id).status === 'completed'))
    await svc.stop()
    await db.close()
  })
})

test('an input file in use by a running batch cannot be deleted; input files are limited to maxFiles', async () => {
  await withDb(async (path) => {
    const db = open(path)
    const gw = new FakeGateway()
    const { svc } = service(db, gw, { maxFiles: 2 })
    await svc.start()
    const f = await svc.files.upload({ filename: 'in.jsonl', purpose: 'batch', bytes: file(['a']) })
    await svc.files.upload({ filename: 'two.jsonl', purpose: 'batch', bytes: file(['a']) })
    await assert.rejects(
      svc.files.upload({ filename: 'three.jsonl', purpose: 'batch', bytes: file(['a']) }),
      (e: unknown) => e instanceof BatchError && e.code === 'LIMIT',
    )
    const job = await create(svc, f.id)
    await until('a running', () => gw.running().includes('a'))
    await assert.rejects(
      svc.deleteFile(f.id),
      (e: unknown) => e instanceof BatchError && e.code === 'BAD_STATE' && e.message.includes(job.id),
    )
    gw.release('a')
    await until('completed', () => svc.get(job.id).status === 'completed')
    await svc.deleteFile(f.id)
    assert.throws(
      () => svc.files.get(f.id),
      (e: unknown) => e instanceof BatchError && e.code === 'NOT_FOUND',
    )
    // The room it freed takes a new upload.
    await svc.files.upload({ filename: 'three.jsonl', purpose: 'batch', bytes: file(['a']) })
    await svc.stop()
    await db.close()
  })
})

test('a batch not done within its 24 hours expires: the lines never run are in its error file', async () => {
  await withDb(async (path) => {
    const db = open(path)
    const gw = new FakeGateway()
    let now = 1_700_000_000_000
    const { svc } = service(db, gw, { concurrency: 1, clock: { now: () => now } })
    await svc.start()
    const f = await svc.files.upload({ filename: 'in.jsonl', purpose: 'batch', bytes: file(['a', 'b', 'c']) })
    const job = await create(svc, f.id)
    await until('a running', () => gw.running().includes('a'))
    now += 24 * 3600 * 1000
    gw.release('a')
    await until('expired', () => svc.get(job.id).status === 'expired')
    assert.deepEqual(gw.started, ['a'])
    const done = svc.get(job.id)
    assert.deepEqual(done.counts, { total: 3, completed: 1, failed: 2 })
    const errors = await content(svc, done.errorFileId)
    assert.deepEqual(
      errors.map((e) => [e.custom_id, e.response, (e.error as { code: string }).code]),
      [
        ['b', null, 'batch_expired'],
        ['c', null, 'batch_expired'],
      ],
    )
    await svc.stop()
    await db.close()
  })
})
