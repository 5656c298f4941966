// The inference worker thread: holds one onnxruntime session per model and runs generations and
// replays for the Engine on the main thread, several at a time (interleaved between steps), so the daemon's
// event loop stays free. Cancelled jobs stop at their next step.
import { parentPort } from 'node:worker_threads'
import { TextModel } from './model.js'
import { OrtDecoder, type ExecutionProvider } from './decoder.js'
import { StepScheduler } from './stepScheduler.js'
import { webgpuUnavailable } from './webgpuProbe.js'
import {
  generate,
  type GenerationChunk,
  type GenerationRequest,
  type GenerationResult,
  type LoopModel,
} from './generate.js'
import { EngineError } from './errors.js'
import { auditProducts, type AuditProduct } from './auditProducts.js'
import { auditedModel } from './auditedModel.js'
import { checkAudit, type AuditRequest, type AuditVerdict } from './auditCheck.js'
import {
  replayOn,
  type ReplayEpsilon,
  type ReplayModel,
  type ReplayRequest,
  type ReplayVerdict,
} from './replay.js'

/** What the configuration asks for: 'auto' is WebGPU when onnxruntime finds an adapter, else the CPU. */
export type ProviderChoice = ExecutionProvider | 'auto'

export type EngineWorkerRequest =
  | {
      kind: 'load'
      dirs: string[]
      threads: number | undefined
      spinning: boolean | undefined
      provider: ProviderChoice
      /** Sequences of one model decoded together in one onnxruntime call, at most. */
      maxBatch: number
    }
  | { kind: 'generate'; job: number; model: string; req: GenerationRequest }
  | { kind: 'replay'; job: number; model: string; req: ReplayRequest; eps: ReplayEpsilon }
  | { kind: 'audit'; job: number; model: string; req: AuditRequest }
  | { kind: 'cancel'; job: number }
  | { kind: 'stop' }

export type EngineWorkerReply =
  | {
      kind: 'loaded'
      ids: string[]
      provider: ExecutionProvider
      /** Why 'auto' settled on the CPU; absent otherwise. */
      fallback?: string
    }
  | { kind: 'chunk'; job: number; chunk: GenerationChunk }
  | { kind: 'done'; job: number; result: GenerationResult }
  | { kind: 'replayed'; job: number; verdict: ReplayVerdict }
  | { kind: 'audited'; job: number; verdict: AuditVerdict }
  | { kind: 'failed'; job: number; code: string; message: string }
  | { kind: 'loadFailed'; code: string; message: string }
  | { kind: 'stopped' }

const port = parentPort
if (port === null) throw new Error('engine worker: not in a worker thread')

/**
 * The replies of one turn of this thread's event loop, which leave as one message. A batched step
 * advances every sequence in it at once; their chunks cross together, the main thread handles them
 * in one callback, and the network writes they cause leave in one socket write (tcpCork.ts) rather
 * than one each. Nothing waits for the next step: onnxruntime starts a run in a setImmediate of
 * its own, queued after this one.
 */
let outbox: EngineWorkerReply[] = []
const flush = (): void => {
  if (outbox.length === 0) return
  const batch = outbox
  outbox = []
  port.postMessage(batch)
}
const post = (m: EngineWorkerReply): void => {
  if (outbox.push(m) === 1) setImmediate(flush)
}

type WorkerModel = LoopModel &
  ReplayModel & {
    close(): Promise<void>
    dir: string
    decoder: OrtDecoder
    steps: StepScheduler
    /** An int8 model's audited products (null: not int8). */
    products: AuditProduct[] | null
  }

const models = new Map<string, WorkerModel>()
const jobs = new Map<number, AbortController>()
const running = new Set<Promise<void>>()

/** The provider every session here uses, decided once, before the first model opens. */
async function chooseProvider(
  choice: ProviderChoice,
): Promise<{ provider: ExecutionProvider; fallback?: string }> {
  if (choice === 'cpu') return { provider: 'cpu' }
  const why = await webgpuUnavailable()
  if (why === null) return { provider: 'webgpu' }
  if (choice === 'auto') return { provider: 'cpu', fallback: why }
  throw new EngineError(
    'PROVIDER_UNAVAILABLE',
    `engine.executionProvider is "webgpu", but onnxruntime cannot start WebGPU here: ${why} ` +
      '(set it to "auto" to fall back to the CPU, or to "cpu")',
    { provider: 'webgpu' },
  )
}

async function load(m: Extract<EngineWorkerRequest, { kind: 'load' }>): Promise<void> {
  const { dirs, threads, spinning } = m
  const { provider, fallback } = await chooseProvider(m.provider)
  for (const dir of dirs) {
    const model = await TextModel.load(dir)
    const decoder = await OrtDecoder.open(dir, model.spec, {
      threads,
      spinning,
      provider,
      arenaRows: m.maxBatch,
    })
    const steps = new StepScheduler(decoder, m.maxBatch)
    models.set(model.id, {
      step: (c, t) => steps.step(c, t),
      score: (t, from) => decoder.score(t, from),
      vocab: model.spec.vocab,
      emptyCache: () => decoder.emptyCache(),
      release: (c) => decoder.release(c),
      decode: (ids) => model.decode(ids),
      eos: model.spec.eos,
      contextLength: model.spec.contextLength,
      close: () => decoder.close(),
      dir,
      decoder,
      steps,
      products: auditProducts(model.manifest, model.spec.layers),
    })
  }
  post({ kind: 'loaded', ids: [...models.keys()], provider, ...(fallback !== undefined ? { fallback } : {}) })
}

async function run(
  job: number,
  m: Extract<EngineWorkerRequest, { job: number; model: string }>,
): Promise<void> {
  const ac = new AbortController()
  jobs.set(job, ac)
  try {
    const model = models.get(m.model)
    if (model === undefined) throw new EngineError('MODEL_NOT_FOUND', `model ${m.model} is not loaded`)
    if (m.kind === 'generate') {
      const onChunk = (chunk: GenerationChunk): void => post({ kind: 'chunk', job, chunk })
      let result: GenerationResult
      if (m.req.audit === true && model.products !== null) {
        // The products are recorded step by step and committed here, before the tokens leave.
        const audited = await auditedModel(
          model,
          (c, t) => model.steps.step(c, t, true),
          model.products,
          m.req.auditCheat,
        )
        result = await generate(audited.model, m.req, onChunk, ac.signal)
        result.audit = audited.finish()
      } else result = await generate(model, m.req, onChunk, ac.signal)
      post({ kind: 'done', job, result })
    } else if (m.kind === 'audit') {
      if (model.products === null)
        throw new EngineError('BAD_PARAMS', `${m.model} is not an int8 model: nothing to audit`)
      post({ kind: 'audited', job, verdict: await checkAudit(model, model.products, m.req) })
    } else {
      // One teacher-forced pass and the rule, here: only the verdict crosses to the main thread,
      // never the logits (a GPT-2 vocabulary over 1,000 positions is 200 MB).
      post({ kind: 'replayed', job, verdict: await replayOn(model, m.req, m.eps) })
    }
  } catch (err) {
    const code = err instanceof EngineError ? err.code : 'ENGINE_FAILED'
    post({ kind: 'failed', job, code, message: (err as Error).message })
  } finally {
    jobs.delete(job)
  }
}

port.on('message', (m: EngineWorkerRequest) => {
  switch (m.kind) {
    case 'load':
      load(m).catch((err: unknown) =>
        post({
          kind: 'loadFailed',
          code: err instanceof EngineError ? err.code : 'MODEL_INVALID',
          message: (err as Error).message,
        }),
      )
      return
    case 'generate':
    case 'replay':
    case 'audit': {
      const p = run(m.job, m).finally(() => running.delete(p))
      running.add(p)
      return
    }
    case 'cancel':
      jobs.get(m.job)?.abort()
      return
    case 'stop':
      // Cancel every job, let each finish its current step, then release the sessions.
      for (const ac of jobs.values()) ac.abort()
      void Promise.allSettled(running)
        .then(() => Promise.allSettled([...models.values()].map((x) => x.close())))
        .finally(() => {
          post({ kind: 'stopped' })
          flush()
          port.close()
        })
  }
})
