import { Worker } from 'node:worker_threads'
import ort from 'onnxruntime-node'
import { EngineError, type EngineErrorCode } from './errors.js'
import { TextModel } from './model.js'
import type { GenerationChunk, GenerationRequest, GenerationResult } from './generate.js'
import type { EngineWorkerReply, EngineWorkerRequest, ProviderChoice } from './worker.js'
import type { ExecutionProvider } from './decoder.js'
import { silentLogger, type Logger } from '../../util/logger.js'
import type { AuditRequest, AuditVerdict } from './auditCheck.js'
import {
  DEFAULT_REPLAY_EPSILON,
  type ReplayEpsilon,
  type ReplayRequest,
  type ReplayVerdict,
} from './replay.js'
import { workerFile } from '../../util/workerFile.js'

export interface EngineOptions {
  /** Model folders to load (each with a manifest). */
  models: string[]
  /** onnxruntime intra-op threads (default: its choice). */
  threads?: number
  /** Let onnxruntime's idle threads spin (its default; see DecoderOptions.spinning). */
  spinning?: boolean
  /**
   * Jobs (generations, replays, audits) running at once. The generations among them that run on
   * one model decode together, in one batched onnxruntime call per step (continuous batching).
   */
  maxActive: number
  /** Jobs waiting for a slot; one more is refused with BUSY. */
  maxQueue: number
  /**
   * Where onnxruntime runs the models (default 'cpu'): 'webgpu' refuses to start without a WebGPU
   * adapter; 'auto' takes WebGPU when onnxruntime finds an adapter, else the CPU, logging why once.
   */
  executionProvider?: ProviderChoice
}

export interface EngineComponents {
  log?: Logger
}

/** What a job asks of the worker: a generation, a replay of one (issue 10), or an int8 audit (issue 13). */
type Work =
  | { kind: 'generate'; req: GenerationRequest; onChunk: (c: GenerationChunk) => void }
  | { kind: 'replay'; req: ReplayRequest; eps: ReplayEpsilon }
  | { kind: 'audit'; req: AuditRequest }

type Outcome = GenerationResult | ReplayVerdict | AuditVerdict

interface Job {
  id: number
  model: string
  work: Work
  resolve: (r: Outcome) => void
  reject: (e: Error) => void
  signal?: AbortSignal
  onAbort?: () => void
}

/** The ONNX Runtime on `provider`, as it appears in engine fingerprints. */
export function runtimeId(provider: ExecutionProvider): string {
  return `onnxruntime-node/${ort.env.versions.node ?? ort.env.versions.common}/${provider}`
}

/** The running ONNX Runtime on the CPU provider (a node that hosts no model announces this). */
export const RUNTIME = runtimeId('cpu')

/**
 * Local inference (SPEC 5.1): pinned models, generation in a worker thread, a bounded queue.
 * `generate` streams chunks and resolves with the whole result; the same request (prompt, sampling
 * parameters, seed) always gives the same tokens.
 */
export class Engine {
  private readonly waiting: Job[] = []
  private readonly active = new Map<number, Job>()
  private nextJob = 1
  private stopped = false
  private readonly busyListeners = new Set<(busy: boolean) => void>()

  private constructor(
    private readonly worker: Worker,
    private readonly byId: Map<string, TextModel>,
    private readonly opts: EngineOptions,
    /** Where the models run: the configured provider, or what 'auto' settled on. */
    readonly provider: ExecutionProvider,
  ) {
    worker.on('message', (replies: EngineWorkerReply[]) => {
      for (const m of replies) this.onReply(m)
    })
    worker.on('error', (err) => this.failAll('ENGINE_FAILED', `engine worker failed: ${err.message}`))
    worker.on('exit', () => this.failAll('ENGINE_STOPPED', 'the engine stopped'))
  }

  /**
   * Load and pin every model, in this thread (for tokenizing) and in the worker (for running).
   * Refuses with MODEL_INVALID or MODEL_HASH_MISMATCH a model that cannot be served, and with
   * PROVIDER_UNAVAILABLE an explicit 'webgpu' without an adapter.
   */
  static async start(opts: EngineOptions, components: EngineComponents = {}): Promise<Engine> {
    const log = components.log ?? silentLogger()
    const byId = new Map<string, TextModel>()
    for (const dir of opts.models) {
      const m = await TextModel.load(dir)
      byId.set(m.id, m)
    }
    const worker = new Worker(workerFile(new URL('./worker.js', import.meta.url), 'engine-worker'))
    const loaded = new Promise<Extract<EngineWorkerReply, { kind: 'loaded' }>>((resolve, reject) => {
      const onMessage = (replies: EngineWorkerReply[]): void => {
        for (const m of replies) {
          if (m.kind === 'loaded') resolve(m)
          else if (m.kind === 'loadFailed') reject(new EngineError(m.code as EngineErrorCode, m.message))
          else continue
          worker.off('message', onMessage)
        }
      }
      worker.on('message', onMessage)
      worker.once('error', reject)
    })
    worker.postMessage({
      kind: 'load',
      dirs: opts.models,
      threads: opts.threads,
      spinning: opts.spinning,
      provider: opts.executionProvider ?? 'cpu',
      maxBatch: opts.maxActive,
    } satisfies EngineWorkerRequest)
    let reply: Extract<EngineWorkerReply, { kind: 'loaded' }>
    try {
      reply = await loaded
    } catch (err) {
      await worker.terminate()
      throw err
    }
    if (reply.fallback !== undefined)
      log.info(
        { provider: reply.provider, reason: reply.fallback },
        `executionProvider auto: no WebGPU (${reply.fallback}); inference runs on the CPU`,
      )
    return new Engine(worker, byId, opts, reply.provider)
  }

  models(): TextModel[] {
    return [...this.byId.values()]
  }

  /** A model by its id (`name@hash`) or by its name. */
  model(idOrName: string): TextModel | undefined {
    return this.byId.get(idOrName) ?? this.models().find((m) => m.name === idOrName)
  }

  /** The runtime and the provider the models run on, e.g. `onnxruntime-node/1.30.0/webgpu`. */
  get runtime(): string {
    return runtimeId(this.provider)
  }

  /**
   * What verifiers compare and HostAnnounce carries: runtime, provider and models
   * (`onnxruntime-node/1.30.0/cpu/kjv-small@…`; default: every model loaded).
   */
  fingerprint(modelIds: readonly string[] = [...this.byId.keys()]): string {
    return `${this.runtime}/${modelIds.join(',')}`
  }

  /** Jobs (generations, replays, audits) running in the worker and waiting for a slot. */
  get load(): { active: number; waiting: number } {
    return { active: this.active.size, waiting: this.waiting.length }
  }

  /** True while any generation runs or waits. */
  get busy(): boolean {
    return this.active.size + this.waiting.length > 0
  }

  /** Called with `true` when work arrives at an idle engine and `false` when it drains. */
  onBusy(listener: (busy: boolean) => void): () => void {
    this.busyListeners.add(listener)
    return () => this.busyListeners.delete(listener)
  }

  /**
   * Generate `req` on `modelId`. Refuses at once with BUSY when the queue is full; rejects with
   * CANCELLED when `signal` aborts (the worker stops at its next step).
   */
  generate(
    modelId: string,
    req: GenerationRequest,
    onChunk: (c: GenerationChunk) => void,
    signal?: AbortSignal,
  ): Promise<GenerationResult> {
    return this.submit(modelId, { kind: 'generate', req, onChunk }, signal) as Promise<GenerationResult>
  }

  /**
   * Replay an executor's answer (`req.tokens`, exactly its GenerationResult.tokens) on `modelId`:
   * one teacher-forced pass and the replay rule, both in the worker; only the verdict comes back.
   * A job like a generation: it takes a slot, waits in the same queue, and is refused with BUSY
   * when the queue is full; `signal` cancels it while it waits.
   */
  replay(
    modelId: string,
    req: ReplayRequest,
    eps: ReplayEpsilon = DEFAULT_REPLAY_EPSILON,
    signal?: AbortSignal,
  ): Promise<ReplayVerdict> {
    return this.submit(modelId, { kind: 'replay', req, eps }, signal) as Promise<ReplayVerdict>
  }

  /**
   * Check an int8 task's opened products (issue 13): Freivalds' check of every opened row, the
   * float glue between them, and the tokens they lead to, in the worker, as a replay is.
   */
  audit(modelId: string, req: AuditRequest, signal?: AbortSignal): Promise<AuditVerdict> {
    return this.submit(modelId, { kind: 'audit', req }, signal) as Promise<AuditVerdict>
  }

  private submit(modelId: string, work: Work, signal?: AbortSignal): Promise<Outcome> {
    if (this.stopped) return Promise.reject(new EngineError('ENGINE_STOPPED', 'the engine is stopped'))
    if (!this.byId.has(modelId))
      return Promise.reject(new EngineError('MODEL_NOT_FOUND', `no model ${modelId}`))
    if (this.active.size >= this.opts.maxActive && this.waiting.length >= this.opts.maxQueue) {
      return Promise.reject(
        new EngineError('BUSY', `the engine is busy: ${this.opts.maxQueue} requests wait already`),
      )
    }
    if (signal?.aborted === true) return Promise.reject(new EngineError('CANCELLED', 'generation cancelled'))
    const wasBusy = this.busy
    const done = new Promise<Outcome>((resolve, reject) => {
      const job: Job = { id: this.nextJob++, model: modelId, work, resolve, reject, signal }
      job.onAbort = () => this.cancel(job)
      signal?.addEventListener('abort', job.onAbort, { once: true })
      this.waiting.push(job)
    })
    if (!wasBusy) this.emitBusy(true)
    this.pump()
    return done
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    for (const job of this.waiting.splice(0))
      this.finish(job, new EngineError('ENGINE_STOPPED', 'the engine stopped'))
    const stopped = new Promise<void>((resolve) => {
      this.worker.on('message', (replies: EngineWorkerReply[]) => {
        if (replies.some((m) => m.kind === 'stopped')) resolve()
      })
      this.worker.once('exit', () => resolve())
    })
    this.worker.postMessage({ kind: 'stop' } satisfies EngineWorkerRequest)
    const timer = setTimeout(() => void this.worker.terminate(), 10_000)
    await stopped
    clearTimeout(timer)
  }

  private pump(): void {
    while (this.active.size < this.opts.maxActive && this.waiting.length > 0) {
      const job = this.waiting.shift()!
      this.active.set(job.id, job)
      const w = job.work
      const { id, model } = job
      this.worker.postMessage(
        (w.kind === 'replay'
          ? { kind: 'replay', job: id, model, req: w.req, eps: w.eps }
          : { kind: w.kind, job: id, model, req: w.req }) as EngineWorkerRequest,
      )
    }
  }

  private cancel(job: Job): void {
    const i = this.waiting.indexOf(job)
    if (i !== -1) {
      this.waiting.splice(i, 1)
      this.finish(job, new EngineError('CANCELLED', 'generation cancelled'))
    } else if (this.active.has(job.id)) {
      this.worker.postMessage({ kind: 'cancel', job: job.id } satisfies EngineWorkerRequest)
    }
  }

  private onReply(m: EngineWorkerReply): void {
    if (m.kind === 'loaded' || m.kind === 'loadFailed' || m.kind === 'stopped') return
    const job = this.active.get(m.job)
    if (job === undefined) return
    if (m.kind === 'chunk') {
      if (job.work.kind === 'generate') job.work.onChunk(m.chunk)
      return
    }
    this.active.delete(m.job)
    this.finish(
      job,
      m.kind === 'done'
        ? m.result
        : m.kind === 'failed'
          ? new EngineError(m.code as EngineErrorCode, m.message)
          : m.verdict,
    )
    this.pump()
  }

  private finish(job: Job, outcome: Outcome | Error): void {
    if (job.onAbort !== undefined) job.signal?.removeEventListener('abort', job.onAbort)
    if (outcome instanceof Error) job.reject(outcome)
    else job.resolve(outcome)
    if (!this.busy) this.emitBusy(false)
  }

  private failAll(code: EngineErrorCode, message: string): void {
    this.stopped = true
    for (const job of [...this.waiting.splice(0), ...this.active.values()])
      this.finish(job, new EngineError(code, message))
    this.active.clear()
  }

  private emitBusy(busy: boolean): void {
    for (const l of this.busyListeners) l(busy)
  }
}
