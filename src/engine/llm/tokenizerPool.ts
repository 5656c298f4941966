import { Worker } from 'node:worker_threads'
import { EngineError } from './errors.js'
import type { TextModel } from './model.js'
import type { TokenizerWorkerData, TokenizerWorkerReply, TokenizerWorkerRequest } from './tokenizerWorker.js'
import { workerFile } from '../../util/workerFile.js'

export interface TokenizerPoolOptions {
  /** Tokenizations waiting or running at once, over every caller; one more is refused with BUSY. */
  maxQueue: number
  /** Tokenizations one caller (a peer id, the local API) may have waiting or running at once. */
  maxPerKey: number
  /** Characters waiting or running at once, over every caller. */
  maxQueuedChars: number
  /**
   * A prompt of at most this many characters is tokenized on the calling thread when no job waits
   * for the worker and the inline budget allows: 512 characters take half a millisecond of English
   * (less than the worker's round trip) and about 3 ms of CJK, the worst case. 0: never.
   */
  inlineMaxChars: number
  /** Time the calling thread may spend tokenizing inline: ms per second, at most one second's worth at once. */
  inlineMsPerSecond: number
}

export const DEFAULT_TOKENIZER_POOL: TokenizerPoolOptions = {
  maxQueue: 256,
  maxPerKey: 8,
  maxQueuedChars: 4 * 1024 * 1024,
  inlineMaxChars: 512,
  inlineMsPerSecond: 20,
}

interface Job {
  id: number
  key: string
  model: string
  text: string
  resolve: (ids: number[]) => void
  reject: (err: Error) => void
  signal?: AbortSignal
  onAbort?: () => void
}

/**
 * Tokenization off the event loop (SPEC 5.1): one worker thread holds every model's tokenizer and
 * takes one prompt at a time, callers in turn (round robin over keys), so a peer that sends many
 * long prompts waits behind its own and delays nobody else's by more than one. Bounded globally
 * (jobs, characters) and per caller key; over a bound, `encode` refuses at once with BUSY.
 *
 * A short prompt arriving while the worker is idle is tokenized at once on the calling thread
 * (`inlineMaxChars`), within a budget of that thread's time (`inlineMsPerSecond`, 2% by default):
 * the request path (issue 14, item 5) saves the worker's round trip, and a flood of short prompts
 * spends the budget and goes to the worker like any other.
 */
export class TokenizerPool {
  /** Waiting jobs per key, keys in turn order. */
  private readonly lanes = new Map<string, Job[]>()
  /** Jobs waiting or running per key. */
  private readonly perKey = new Map<string, number>()
  private running: Job | undefined
  private jobs = 0
  private chars = 0
  private nextJob = 1
  private stopped = false
  /** Inline tokenizing time left, ms, as of `creditAt`. */
  private credit: number
  private creditAt: number
  private inlineCount = 0

  private constructor(
    private readonly worker: Worker,
    private readonly models: Map<string, TextModel>,
    private readonly opts: TokenizerPoolOptions,
    /** Monotonic milliseconds: meters the inline budget. */
    private readonly now: () => number,
  ) {
    this.credit = opts.inlineMsPerSecond
    this.creditAt = now()
    worker.on('message', (m: TokenizerWorkerReply) => this.onReply(m))
    worker.on('error', (err) => this.failAll(`tokenizer worker failed: ${err.message}`))
    worker.on('exit', () => this.failAll('the tokenizer stopped'))
  }

  /** Start the worker with the tokenizers of `models` (pinned: their files are checked again). */
  static async start(
    models: readonly TextModel[],
    opts: Partial<TokenizerPoolOptions> = {},
    now: () => number = () => performance.now(),
  ): Promise<TokenizerPool> {
    const data: TokenizerWorkerData = {
      models: models.map((m) => ({ id: m.id, dir: m.dir, files: { ...m.manifest.files } })),
    }
    const file = workerFile(new URL('./tokenizerWorker.js', import.meta.url), 'tokenizer-worker')
    const worker = new Worker(file, { workerData: data })
    let onMessage: (m: TokenizerWorkerReply) => void = () => {}
    let onError: (err: Error) => void = () => {}
    let onExit: () => void = () => {}
    try {
      await new Promise<void>((resolve, reject) => {
        onMessage = (m) => {
          if (m.kind === 'loaded') resolve()
          else if (m.kind === 'loadFailed') reject(new EngineError('MODEL_INVALID', m.message))
        }
        onError = reject
        onExit = () => reject(new EngineError('ENGINE_FAILED', 'the tokenizer worker exited'))
        worker.on('message', onMessage)
        worker.on('error', onError)
        worker.on('exit', onExit)
      })
    } catch (err) {
      await worker.terminate()
      throw err
    } finally {
      // Only our own listeners: the Worker keeps internal ones of its own.
      worker.off('message', onMessage)
      worker.off('error', onError)
      worker.off('exit', onExit)
    }
    return new TokenizerPool(
      worker,
      new Map(models.map((m) => [m.id, m])),
      { ...DEFAULT_TOKENIZER_POOL, ...opts },
      now,
    )
  }

  /** Jobs waiting or running. */
  get pending(): number {
    return this.jobs
  }

  /** Prompts tokenized on the calling thread so far. */
  get inlined(): number {
    return this.inlineCount
  }

  /**
   * The token ids of `text` under `modelId`, as `TextModel.encode` gives them. `key` names the
   * caller whose budget the job counts against (`maxForKey`, default the pool's `maxPerKey`).
   * Rejects with EngineError: BUSY (a bound is reached: try later), CANCELLED (`signal` aborted
   * before the job ran), MODEL_NOT_FOUND, ENGINE_STOPPED.
   */
  encode(
    modelId: string,
    text: string,
    key: string,
    opts: { signal?: AbortSignal; maxForKey?: number } = {},
  ): Promise<number[]> {
    const { signal } = opts
    if (this.stopped) return Promise.reject(new EngineError('ENGINE_STOPPED', 'the tokenizer is stopped'))
    const model = this.models.get(modelId)
    if (model === undefined)
      return Promise.reject(new EngineError('MODEL_NOT_FOUND', `no tokenizer for ${modelId}`))
    if (signal?.aborted === true)
      return Promise.reject(new EngineError('CANCELLED', 'tokenization cancelled'))
    if (text.length === 0) return Promise.resolve([])
    if (text.length <= this.opts.inlineMaxChars && this.jobs === 0 && this.inlineAllowed())
      return this.inline(model, text)
    const mine = this.perKey.get(key) ?? 0
    const budget = opts.maxForKey ?? this.opts.maxPerKey
    if (mine >= budget)
      return Promise.reject(
        new EngineError('BUSY', `${budget} prompts of this caller are being tokenized already`),
      )
    if (this.jobs >= this.opts.maxQueue || this.chars + text.length > this.opts.maxQueuedChars)
      return Promise.reject(new EngineError('BUSY', 'the tokenizer is busy'))
    return new Promise<number[]>((resolve, reject) => {
      const job: Job = { id: this.nextJob++, key, model: modelId, text, resolve, reject, signal }
      job.onAbort = () => this.cancel(job)
      signal?.addEventListener('abort', job.onAbort, { once: true })
      this.perKey.set(key, mine + 1)
      this.jobs++
      this.chars += text.length
      const lane = this.lanes.get(key)
      if (lane === undefined) this.lanes.set(key, [job])
      else lane.push(job)
      this.pump()
    })
  }

  /** Whether the inline budget has time left (refilled for the time since it was last looked at). */
  private inlineAllowed(): boolean {
    const now = this.now()
    const rate = this.opts.inlineMsPerSecond
    this.credit = Math.min(rate, this.credit + ((now - this.creditAt) * rate) / 1000)
    this.creditAt = now
    return this.credit > 0
  }

  /** Tokenize `text` here and now, charging the time it took to the inline budget. */
  private inline(model: TextModel, text: string): Promise<number[]> {
    const start = this.now()
    let ids: number[]
    try {
      ids = model.encode(text)
    } catch (err) {
      return Promise.reject(new EngineError('BAD_PARAMS', (err as Error).message))
    } finally {
      this.credit -= this.now() - start
      this.inlineCount++
    }
    return Promise.resolve(ids)
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.failAll('the tokenizer stopped')
    await this.worker.terminate()
  }

  /** Hand the worker the next caller's oldest job, when it is idle. */
  private pump(): void {
    if (this.running !== undefined || this.stopped) return
    const first = this.lanes.entries().next()
    if (first.done === true) return
    const [key, lane] = first.value
    const job = lane.shift()!
    // The caller goes to the back of the turn order, or leaves it.
    this.lanes.delete(key)
    if (lane.length > 0) this.lanes.set(key, lane)
    this.running = job
    this.worker.postMessage({
      kind: 'encode',
      job: job.id,
      model: job.model,
      text: job.text,
    } satisfies TokenizerWorkerRequest)
  }

  private cancel(job: Job): void {
    const lane = this.lanes.get(job.key)
    const i = lane?.indexOf(job) ?? -1
    // A running job finishes (a second at most); its result is then dropped by its caller.
    if (lane === undefined || i === -1) return
    lane.splice(i, 1)
    if (lane.length === 0) this.lanes.delete(job.key)
    this.finish(job, new EngineError('CANCELLED', 'tokenization cancelled'))
  }

  private onReply(m: TokenizerWorkerReply): void {
    if (m.kind !== 'encoded' && m.kind !== 'failed') return
    const job = this.running
    if (job === undefined || job.id !== m.job) return
    this.running = undefined
    this.finish(job, m.kind === 'encoded' ? Array.from(m.ids) : new EngineError('BAD_PARAMS', m.message))
    this.pump()
  }

  private finish(job: Job, outcome: number[] | Error): void {
    if (job.onAbort !== undefined) job.signal?.removeEventListener('abort', job.onAbort)
    const left = (this.perKey.get(job.key) ?? 1) - 1
    if (left <= 0) this.perKey.delete(job.key)
    else this.perKey.set(job.key, left)
    this.jobs--
    this.chars -= job.text.length
    if (outcome instanceof Error) job.reject(outcome)
    else job.resolve(outcome)
  }

  private failAll(message: string): void {
    if (this.stopped) return
    this.stopped = true
    const all = [...this.lanes.values()].flat()
    if (this.running !== undefined) all.push(this.running)
    this.lanes.clear()
    this.running = undefined
    for (const job of all) this.finish(job, new EngineError('ENGINE_STOPPED', message))
  }
}
