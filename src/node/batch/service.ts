import type { Logger } from '../../util/logger.js'
import type { Clock } from '../../util/clock.js'
import { BatchError } from './errors.js'
import { BATCH_ENDPOINTS, type BatchEndpoint, type BatchLine, type CheckRequest } from './jsonl.js'
import {
  checkMetadata,
  FINAL_STATUSES,
  linesDone,
  newJob,
  step,
  type BatchEvent,
  type BatchJob,
  type BatchProblem,
} from './job.js'
import { expiredResults, jsonl, resultOf, type LineResult } from './result.js'
import { LineRunner, type ExecuteLine, type LineOutcome } from './runner.js'
import type { BatchStore, FileMeta, StoredJob } from './store.js'
import { BatchFiles } from './files.js'
import { DEFAULT_BATCH_OPTIONS, type BatchOptions } from './options.js'

/** A batch being run: its requests, which are done, and those in flight. */
interface Active {
  id: string
  lines: BatchLine[]
  done: Set<number>
  /** The next line to consider starting, in file order. */
  next: number
  inFlight: Map<number, AbortController>
}

/**
 * Batch jobs in the shape of OpenAI's Batch API (docs/inference.md, "Batch jobs"): input files
 * checked line by line at upload, jobs whose lines run as ordinary tasks through `execute` (the
 * gateway), a few at once over all jobs and in file order within a job, each line's result stored
 * as it finishes, output and error files written when a job ends. On start, jobs left running by
 * a daemon that stopped go on with the lines that have no stored result: a stored line never runs
 * again. Every status change goes through the pure `step` (job.ts).
 */
export class BatchService {
  /** Input files, and the output and error files batches write. */
  readonly files: BatchFiles
  private readonly jobs = new Map<string, StoredJob>()
  private readonly active = new Map<string, Active>()
  private readonly runner: LineRunner
  private readonly running = new Set<Promise<void>>()
  /**
   * Task ids of each running batch, and of finished ones whose status was read, so that a status
   * read need not go through the batch's results.
   */
  private readonly taskIdCache = new Map<string, string[]>()
  /** Batches whose files are being written: nothing else may end them meanwhile. */
  private readonly finishing = new Set<string>()
  private seq = 0
  private stopping = false

  constructor(
    private readonly components: {
      store: BatchStore
      execute: ExecuteLine
      /** Checks a request body as its endpoint would (at upload, and again when a job starts). */
      check: CheckRequest
      /** Names and ids of the models the gateway serves now. */
      models: () => string[]
      clock: Clock
      setTimer: (fn: () => void, ms: number) => () => void
      /** A fresh random id with this prefix (`file-`, `batch_`). */
      newId: (prefix: string) => string
      log: Logger
    },
    private readonly opts: BatchOptions = DEFAULT_BATCH_OPTIONS,
  ) {
    this.files = new BatchFiles(components, opts)
    this.runner = new LineRunner(
      { execute: components.execute, setTimer: components.setTimer, log: components.log },
      opts,
    )
  }

  /** Read what is stored and go on with the jobs a stopped daemon left unfinished. */
  async start(): Promise<void> {
    const { files, jobs } = await this.components.store.load()
    this.files.load(files)
    for (const s of jobs) {
      this.jobs.set(s.job.id, s)
      this.seq = Math.max(this.seq, s.seq + 1)
    }
    for (const s of jobs) {
      const { job } = s
      if (job.status === 'validating') await this.validate(s, await this.files.lines(job.inputFileId))
      else if (job.status === 'in_progress') await this.resume(s)
      else if (job.status === 'finalizing') this.track(this.finish(job.id, 'complete'))
      else if (job.status === 'cancelling') this.track(this.finish(job.id, 'cancelled'))
    }
    if (jobs.some((s) => !FINAL_STATUSES.includes(s.job.status)))
      this.components.log.info({ jobs: this.active.size }, 'resuming batch jobs')
    this.pump()
  }

  /**
   * Stop starting lines and stop those in flight; their results are not recorded (unless their
   * task finished anyway), so they run again when the daemon starts again.
   */
  async stop(): Promise<void> {
    this.stopping = true
    for (const a of this.active.values()) for (const c of a.inFlight.values()) c.abort()
    await Promise.allSettled([...this.running])
  }

  /** Delete a file; the input file of a batch that is not finished stays. */
  deleteFile(id: string): Promise<void> {
    return this.files.delete(id, (file) => {
      const s = [...this.jobs.values()].find(
        (x) => x.job.inputFileId === file && !FINAL_STATUSES.includes(x.job.status),
      )
      return s === undefined ? undefined : `batch ${s.job.id} (${s.job.status})`
    })
  }

  /**
   * Create a batch over an uploaded file and check it: every line's model must be one the gateway
   * serves, else the batch is `failed` with one error per line at fault. A batch that passes is
   * `in_progress` when this returns.
   */
  async create(a: {
    inputFileId: unknown
    endpoint: unknown
    completionWindow: unknown
    metadata: unknown
  }): Promise<BatchJob> {
    if (typeof a.inputFileId !== 'string') throw new BatchError('INVALID_VALUE', 'input_file_id is required')
    if (typeof a.endpoint !== 'string' || !(BATCH_ENDPOINTS as readonly string[]).includes(a.endpoint))
      throw new BatchError('INVALID_VALUE', `endpoint must be one of ${BATCH_ENDPOINTS.join(', ')}`)
    if (a.completionWindow !== '24h') throw new BatchError('INVALID_VALUE', 'completion_window must be "24h"')
    const metadata = checkMetadata(a.metadata)
    const input = this.files.get(a.inputFileId)
    if (input.purpose !== 'batch')
      throw new BatchError('INVALID_VALUE', `file ${input.id} is a batch's output, not an input file`)
    await this.makeRoom()
    const lines = await this.files.lines(input.id)
    const s: StoredJob = {
      seq: this.seq++,
      job: newJob({
        id: this.components.newId('batch_'),
        endpoint: a.endpoint as BatchEndpoint,
        inputFileId: input.id,
        metadata,
        total: lines?.length ?? 0,
        now: this.now(),
      }),
    }
    this.jobs.set(s.job.id, s)
    await this.validate(s, lines)
    this.pump()
    return this.get(s.job.id)
  }

  get(id: string): BatchJob {
    const s = this.jobs.get(id)
    if (s === undefined) throw new BatchError('NOT_FOUND', `no batch ${id}`)
    return s.job
  }

  /** Batches, newest first, after the one named (`after`), at most `limit`. */
  list(after: string | undefined, limit: number): { data: BatchJob[]; hasMore: boolean } {
    const all = [...this.jobs.values()].sort((x, y) => y.seq - x.seq).map((s) => s.job)
    let from = 0
    if (after !== undefined) {
      const i = all.findIndex((j) => j.id === after)
      if (i === -1) throw new BatchError('NOT_FOUND', `no batch ${after}`)
      from = i + 1
    }
    return { data: all.slice(from, from + limit), hasMore: from + limit < all.length }
  }

  /**
   * Cancel a batch: no line starts any more, the lines in flight are stopped (their escrows
   * refunded; one that finished anyway is kept), then it is `cancelled` with what finished in its
   * output and error files. Returns it as it is now (`cancelling`, or already `cancelled`).
   */
  async cancel(id: string): Promise<BatchJob> {
    const s = this.jobs.get(id)
    if (s === undefined) throw new BatchError('NOT_FOUND', `no batch ${id}`)
    const before = s.job
    const after = await this.apply(id, { type: 'cancel' })
    if (after === before) return after
    this.components.log.info({ batch: id }, 'batch cancelling')
    const a = this.active.get(id)
    for (const c of a?.inFlight.values() ?? []) c.abort()
    this.advance(id)
    return this.get(id)
  }

  /** The tasks of a batch's answered lines, in no particular order (for its audit). */
  async taskIds(id: string): Promise<string[]> {
    this.get(id)
    let ids = this.taskIdCache.get(id)
    if (ids === undefined) {
      // Not a running batch (those are cached from their start): no result is added meanwhile.
      ids = taskIdsOf(await this.components.store.lineResults(id))
      this.taskIdCache.set(id, ids)
    }
    return [...ids]
  }

  private now(): number {
    return Math.floor(this.components.clock.now() / 1000)
  }

  /** Apply an event to a stored job and store it; returns the job after it. */
  private async apply(id: string, event: BatchEvent): Promise<BatchJob> {
    const s = this.jobs.get(id)!
    const job = step(s.job, event, this.now())
    if (job === s.job) return job
    s.job = job
    await this.components.store.putJob(s)
    return job
  }

  /** Drop the oldest finished batch while `maxBatches` are kept. */
  private async makeRoom(): Promise<void> {
    while (this.jobs.size >= this.opts.maxBatches) {
      const oldest = [...this.jobs.values()]
        .filter((s) => FINAL_STATUSES.includes(s.job.status))
        .sort((x, y) => x.seq - y.seq)[0]
      if (oldest === undefined)
        throw new BatchError('LIMIT', `${this.opts.maxBatches} batches are running: wait for one to finish`)
      await this.components.store.dropJob(oldest.job)
      this.jobs.delete(oldest.job.id)
      this.taskIdCache.delete(oldest.job.id)
      this.files.forget([oldest.job.outputFileId, oldest.job.errorFileId])
    }
  }

  private async validate(s: StoredJob, lines: BatchLine[] | undefined): Promise<void> {
    const problems: BatchProblem[] = []
    if (lines === undefined)
      problems.push({ code: 'file_not_found', message: `no file ${s.job.inputFileId}`, line: null })
    else {
      const served = new Set(this.components.models())
      for (const l of lines)
        if (!served.has(l.model))
          problems.push({
            code: 'model_not_found',
            message: `line ${l.line}: the model '${l.model}' does not exist or is not served here`,
            line: l.line,
          })
    }
    if (problems.length > 0) {
      await this.apply(s.job.id, { type: 'invalid', errors: problems.slice(0, 100) })
      this.components.log.info({ batch: s.job.id, problems: problems.length }, 'batch failed validation')
      return
    }
    this.active.set(s.job.id, { id: s.job.id, lines: lines!, done: new Set(), next: 0, inFlight: new Map() })
    this.taskIdCache.set(s.job.id, [])
    await this.apply(s.job.id, { type: 'validated' })
    this.components.log.info({ batch: s.job.id, requests: lines!.length }, 'batch in progress')
  }

  private async resume(s: StoredJob): Promise<void> {
    const lines = (await this.files.lines(s.job.inputFileId)) ?? []
    const results = await this.components.store.lineResults(s.job.id)
    const done = new Set(results.map((r) => r.index))
    this.taskIdCache.set(s.job.id, taskIdsOf(results))
    this.active.set(s.job.id, { id: s.job.id, lines, done, next: 0, inFlight: new Map() })
    // Every line was done before the stop: finish it now.
    this.advance(s.job.id)
  }

  /** Start lines while there are free slots: the oldest batch first, each batch in file order. */
  private pump(): void {
    if (this.stopping) return
    while (this.runner.free > 0) {
      const next = this.nextLine()
      if (next === undefined) return
      this.track(this.runLine(next.a, next.index))
    }
  }

  private nextLine(): { a: Active; index: number } | undefined {
    const now = this.now()
    for (const s of [...this.jobs.values()].sort((x, y) => x.seq - y.seq)) {
      const a = this.active.get(s.job.id)
      if (a === undefined || s.job.status !== 'in_progress') continue
      if (now >= s.job.expiresAt) {
        this.advance(a.id)
        continue
      }
      while (a.next < a.lines.length && (a.done.has(a.next) || a.inFlight.has(a.next))) a.next++
      if (a.next < a.lines.length) return { a, index: a.next++ }
    }
    return undefined
  }

  private async runLine(a: Active, index: number): Promise<void> {
    const line = a.lines[index]!
    const ctl = new AbortController()
    a.inFlight.set(index, ctl)
    let outcome: LineOutcome | null = null
    try {
      outcome = await this.runner.run(line, ctl.signal)
    } finally {
      a.inFlight.delete(index)
    }
    if (outcome !== null) {
      a.done.add(index)
      const result = resultOf(index, line, outcome)
      if (result.taskId !== null) this.taskIdCache.get(a.id)?.push(result.taskId)
      const s = this.jobs.get(a.id)!
      s.job = step(s.job, { type: 'line', ok: outcome.ok }, this.now())
      try {
        await this.components.store.putResult(s, result)
      } catch (err) {
        this.components.log.error({ err, batch: a.id, index }, 'cannot store a batch result')
      }
    }
    this.advance(a.id)
    this.pump()
  }

  /** A batch with nothing in flight that has nothing more to run: write its files and end it. */
  private advance(id: string): void {
    const a = this.active.get(id)
    const s = this.jobs.get(id)
    if (s === undefined || this.stopping || this.finishing.has(id)) return
    if (a !== undefined && a.inFlight.size > 0) return
    const { job } = s
    if (job.status === 'cancelling') this.track(this.finish(id, 'cancelled'))
    else if (job.status !== 'in_progress') return
    else if (linesDone(job) >= job.counts.total) this.track(this.finish(id, 'complete'))
    else if (this.now() >= job.expiresAt) this.track(this.finish(id, 'expire'))
  }

  private async finish(id: string, how: 'complete' | 'cancelled' | 'expire'): Promise<void> {
    const a = this.active.get(id)
    this.active.delete(id)
    this.finishing.add(id)
    const s = this.jobs.get(id)!
    try {
      if (how === 'complete' && s.job.status === 'in_progress') await this.apply(id, { type: 'finalize' })
      const results = await this.components.store.lineResults(id)
      const unrun = how === 'expire' ? expiredResults(a?.lines ?? [], results) : []
      const failed = [...results.filter((r) => !r.ok), ...unrun].sort((x, y) => x.index - y.index)
      const files: Array<{ meta: FileMeta; bytes: Uint8Array }> = []
      const fileOf = (rs: LineResult[], kind: string): string | null => {
        const bytes = jsonl(id, rs)
        if (bytes === null) return null
        const meta = this.files.meta('batch_output', `${id}_${kind}.jsonl`, bytes)
        files.push({ meta, bytes })
        return meta.id
      }
      const outputFileId = fileOf(
        results.filter((r) => r.ok),
        'output',
      )
      const errorFileId = fileOf(failed, 'error')
      const event: BatchEvent =
        how === 'expire'
          ? { type: 'expire', unrun: unrun.length, outputFileId, errorFileId }
          : how === 'cancelled'
            ? { type: 'cancelled', outputFileId, errorFileId }
            : { type: 'complete', outputFileId, errorFileId }
      const job = step(s.job, event, this.now())
      await this.components.store.finish({ seq: s.seq, job }, files)
      s.job = job
      this.files.added(files.map((f) => f.meta))
      this.components.log.info({ batch: id, status: job.status, counts: job.counts }, 'batch finished')
    } catch (err) {
      this.components.log.error({ err, batch: id }, 'cannot finish a batch')
    } finally {
      this.finishing.delete(id)
    }
  }

  private track(p: Promise<void>): void {
    this.running.add(p)
    void p.finally(() => this.running.delete(p))
  }
}

function taskIdsOf(results: LineResult[]): string[] {
  return results.flatMap((r) => (r.taskId === null ? [] : [r.taskId]))
}
