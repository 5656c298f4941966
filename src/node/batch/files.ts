import type { Logger } from '../../util/logger.js'
import type { Clock } from '../../util/clock.js'
import { BatchError } from './errors.js'
import { parseBatchFile, type BatchLine, type CheckRequest } from './jsonl.js'
import type { BatchStore, FileMeta } from './store.js'

/** Bounds of the files a daemon takes and keeps (config `batch`). */
export interface BatchFileLimits {
  /** Largest input file, bytes. */
  maxFileBytes: number
  /** Most requests in one input file. */
  maxLines: number
  /** Input files kept at once; an upload beyond is refused until one is deleted. */
  maxFiles: number
}

const MAX_FILENAME = 256

/**
 * The files of batch jobs (OpenAI's Files API, purpose `batch`): input files, checked line by line
 * before anything is stored, and the output and error files batches write. Metadata is held in
 * memory (read from the store at start), bytes only in the store.
 */
export class BatchFiles {
  private readonly metas = new Map<string, FileMeta>()

  constructor(
    private readonly components: {
      store: BatchStore
      /** Checks a request body as its endpoint would. */
      check: CheckRequest
      clock: Clock
      newId: (prefix: string) => string
      log: Logger
    },
    private readonly opts: BatchFileLimits,
  ) {}

  /** Take the stored files' metadata (at start). */
  load(metas: FileMeta[]): void {
    for (const m of metas) this.metas.set(m.id, m)
  }

  /** Check and keep an uploaded input file (`purpose` must be `batch`). */
  async upload(a: { filename: string; purpose: string; bytes: Uint8Array }): Promise<FileMeta> {
    if (a.purpose !== 'batch')
      throw new BatchError(
        'INVALID_VALUE',
        `purpose must be "batch" (got ${JSON.stringify(a.purpose.slice(0, 40))})`,
      )
    if (a.filename.length > MAX_FILENAME)
      throw new BatchError('INVALID_VALUE', `a file name is at most ${MAX_FILENAME} characters`)
    const lines = parseBatchFile(
      a.bytes,
      { maxBytes: this.opts.maxFileBytes, maxLines: this.opts.maxLines },
      this.components.check,
    )
    const inputs = [...this.metas.values()].filter((f) => f.purpose === 'batch').length
    if (inputs >= this.opts.maxFiles)
      throw new BatchError(
        'LIMIT',
        `this daemon keeps ${this.opts.maxFiles} input files at most: delete one first`,
      )
    const meta = this.meta('batch', a.filename, a.bytes)
    await this.components.store.putFile(meta, a.bytes)
    this.metas.set(meta.id, meta)
    this.components.log.info(
      { file: meta.id, requests: lines.length, bytes: meta.bytes },
      'batch file uploaded',
    )
    return meta
  }

  /** The metadata of a file not stored yet (a batch's output, written with its job). */
  meta(purpose: FileMeta['purpose'], filename: string, bytes: Uint8Array): FileMeta {
    return {
      id: this.components.newId('file-'),
      purpose,
      filename,
      bytes: bytes.byteLength,
      createdAt: Math.floor(this.components.clock.now() / 1000),
    }
  }

  /** Files a batch has written (they are in the store). */
  added(metas: FileMeta[]): void {
    for (const m of metas) this.metas.set(m.id, m)
  }

  /** Files dropped from the store with their batch. */
  forget(ids: Array<string | null>): void {
    for (const id of ids) if (id !== null) this.metas.delete(id)
  }

  /** Every file, newest first (`purpose`: only those). */
  list(purpose?: string): FileMeta[] {
    return [...this.metas.values()]
      .filter((f) => purpose === undefined || f.purpose === purpose)
      .sort((x, y) => y.createdAt - x.createdAt)
  }

  get(id: string): FileMeta {
    const f = this.metas.get(id)
    if (f === undefined) throw new BatchError('NOT_FOUND', `no file ${id}`)
    return f
  }

  async content(id: string): Promise<Uint8Array> {
    this.get(id)
    const bytes = await this.components.store.fileBytes(id)
    if (bytes === undefined) throw new BatchError('NOT_FOUND', `no file ${id}`)
    return bytes
  }

  /**
   * The requests of an input file (undefined: it is gone). It was checked at upload, so a failure
   * here is a bug or a damaged database.
   */
  async lines(id: string): Promise<BatchLine[] | undefined> {
    const bytes = await this.components.store.fileBytes(id)
    if (bytes === undefined) return undefined
    return parseBatchFile(bytes, { maxBytes: Infinity, maxLines: Infinity }, this.components.check)
  }

  /** Delete a file, unless `usedBy` names a batch that still needs it. */
  async delete(id: string, usedBy: (id: string) => string | undefined): Promise<void> {
    this.get(id)
    const user = usedBy(id)
    if (user !== undefined)
      throw new BatchError('BAD_STATE', `file ${id} is the input of ${user}, which is not finished`)
    await this.components.store.dropFile(id)
    this.metas.delete(id)
  }
}
