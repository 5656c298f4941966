import type { Level } from 'level'
import type { BatchJob } from './job.js'
import type { LineResult } from './result.js'

/** OpenAI's purposes: an uploaded input file, or a batch's output or error file. */
export type FilePurpose = 'batch' | 'batch_output'

/** What is kept of a file besides its bytes. */
export interface FileMeta {
  id: string
  purpose: FilePurpose
  filename: string
  bytes: number
  /** Unix seconds. */
  createdAt: number
}

/** A stored job and its place in creation order (the order `GET /v1/batches` lists, newest first). */
export interface StoredJob {
  seq: number
  job: BatchJob
}

type Op = { type: 'put' | 'del'; sublevel: unknown; key: string; value?: string | Uint8Array }

const lineKey = (batchId: string, index: number): string => `${batchId}:${String(index).padStart(8, '0')}`

/**
 * Batch files, jobs and per-line results in the daemon's LevelDB, each in its own sublevel:
 * `batch-files` (metadata, JSON) and `batch-file-data` (bytes) by file id, `batches` (job
 * records, JSON) by batch id, `batch-results` (one JSON record per finished line) by
 * `<batch id>:<index>`, so that a job's results read back in file order. Writes take turns; a
 * line's result and its job's new counts go in one atomic batch, so a restarted daemon never finds
 * a result its job does not count, nor a count without its result.
 */
export class BatchStore {
  private readonly files
  private readonly data
  private readonly jobs
  private readonly results
  private turn: Promise<unknown> = Promise.resolve()

  constructor(private readonly root: Level<string, Uint8Array>) {
    this.files = root.sublevel<string, string>('batch-files', { valueEncoding: 'utf8' })
    this.data = root.sublevel<string, Uint8Array>('batch-file-data', { valueEncoding: 'view' })
    this.jobs = root.sublevel<string, string>('batches', { valueEncoding: 'utf8' })
    this.results = root.sublevel<string, string>('batch-results', { valueEncoding: 'utf8' })
  }

  /** Every file's metadata and every job, as stored (read once, at start). */
  async load(): Promise<{ files: FileMeta[]; jobs: StoredJob[] }> {
    const files: FileMeta[] = []
    for await (const v of this.files.values()) files.push(JSON.parse(v) as FileMeta)
    const jobs: StoredJob[] = []
    for await (const v of this.jobs.values()) jobs.push(JSON.parse(v) as StoredJob)
    jobs.sort((a, b) => a.seq - b.seq)
    return { files, jobs }
  }

  putFile(meta: FileMeta, bytes: Uint8Array): Promise<void> {
    return this.write(this.fileOps(meta, bytes))
  }

  async fileBytes(id: string): Promise<Uint8Array | undefined> {
    return this.data.get(id)
  }

  putJob(s: StoredJob): Promise<void> {
    return this.write([this.jobOp(s)])
  }

  /** A line's result with its job as it counts the line now, atomically. */
  putResult(s: StoredJob, r: LineResult): Promise<void> {
    return this.write([
      { type: 'put', sublevel: this.results, key: lineKey(s.job.id, r.index), value: JSON.stringify(r) },
      this.jobOp(s),
    ])
  }

  /** The job in a final status with its output and error files, atomically. */
  finish(s: StoredJob, files: Array<{ meta: FileMeta; bytes: Uint8Array }>): Promise<void> {
    return this.write([...files.flatMap((f) => this.fileOps(f.meta, f.bytes)), this.jobOp(s)])
  }

  /** A job's stored results, in file order. */
  async lineResults(batchId: string): Promise<LineResult[]> {
    const out: LineResult[] = []
    for await (const v of this.results.values({ gte: `${batchId}:`, lt: `${batchId};` }))
      out.push(JSON.parse(v) as LineResult)
    return out
  }

  /** Drop a job with its results and the files it wrote (not its input file). */
  dropJob(job: BatchJob): Promise<void> {
    return this.inTurn(async () => {
      const ops: Op[] = [{ type: 'del', sublevel: this.jobs, key: job.id }]
      for await (const k of this.results.keys({ gte: `${job.id}:`, lt: `${job.id};` }))
        ops.push({ type: 'del', sublevel: this.results, key: k })
      for (const f of [job.outputFileId, job.errorFileId]) if (f !== null) ops.push(...this.fileDelOps(f))
      await this.root.batch(ops as never)
    })
  }

  dropFile(id: string): Promise<void> {
    return this.write(this.fileDelOps(id))
  }

  private fileOps(meta: FileMeta, bytes: Uint8Array): Op[] {
    return [
      { type: 'put', sublevel: this.files, key: meta.id, value: JSON.stringify(meta) },
      { type: 'put', sublevel: this.data, key: meta.id, value: bytes },
    ]
  }

  private fileDelOps(id: string): Op[] {
    return [
      { type: 'del', sublevel: this.files, key: id },
      { type: 'del', sublevel: this.data, key: id },
    ]
  }

  private jobOp(s: StoredJob): Op {
    return { type: 'put', sublevel: this.jobs, key: s.job.id, value: JSON.stringify(s) }
  }

  private write(ops: Op[]): Promise<void> {
    return this.inTurn(() => this.root.batch(ops as never))
  }

  private inTurn<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.turn.then(fn, fn)
    this.turn = run.catch(() => {})
    return run
  }
}
