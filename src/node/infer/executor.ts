import type { Logger } from '../../util/logger.js'
import {
  EngineError,
  GREEDY,
  type AuditCheat,
  type Engine,
  type GenerationRequest,
  type TokenizerPool,
} from '../../engine/index.js'
import { outputHash, signReceipt, type Receipt, type Signer } from '../../ledger/index.js'
import {
  InferRefusal,
  taskFinish,
  tokenLimit,
  type InferHandler,
  type TokenLimit,
} from '../../protocols/index.js'
import { MAX_PROMPT_CHARS } from '../../protocols/infer/index.js'
import { samplingSeed } from './seed.js'
import type { TaskAdmission } from './taskAdmission.js'
import type { ExecutorRecords } from './executorRecords.js'
import type { Metrics } from '../metrics.js'
import { traceStage } from '../../util/stageTrace.js'

/** How a devnet host told to cheat serves its tasks (config `cheat`; docs/verification.md). */
export interface ExecutorCheat {
  /**
   * `corruptProduct` and `skipLayer` falsify an int8 task's committed products
   * (`AuditCheat`); `substituteModel` under an int8 model commits to the int8 model's products
   * over the other model's tokens.
   */
  mode: 'wrongTokens' | 'substituteModel' | 'truncate' | 'ignoreSampling' | AuditCheat
  /** Share of tokens `wrongTokens` replaces after the first, which it always replaces. */
  rate: number
}

/**
 * The executor's side of a task (SPEC 5.3 step 4): admit it (open, paid, this gateway's, never
 * served before), tokenize the prompt off the event loop, run it on the local engine, streaming
 * chunks as they come, and sign a receipt over the request's hash and the output tokens. The
 * sampling seed comes from the task id, so the output is a pure function of the request.
 *
 * SPEC 7, `max_cost` as a gas limit: generation stops when one more token would make the fee
 * (prompt and output tokens × the request's token price) exceed the TaskOpen's `maxCost`; the
 * done frame then says `budget`.
 *
 * Cheapest checks first: a prompt that cannot fit the context by its length alone, or a task that
 * is not paid for, is refused before any tokenizing; tokenizing is charged to the peer's budget in
 * the TokenizerPool.
 *
 * Each task served is kept in `records` (when given) for verifiers, stamped with the epoch.
 */
export function executorHandler(components: {
  engine: Engine
  tokenizer: TokenizerPool
  admission: TaskAdmission
  signer: Signer
  chainId: string
  log: Logger
  /** Where served tasks are kept for verifiers; null keeps nothing. */
  records?: ExecutorRecords | null
  /** The current epoch number, stamped on each record. */
  epoch?: () => number
  /** Devnet only: serve answers wrong in one named way (docs/verification.md). */
  cheat?: ExecutorCheat | null
  /** Counts prefill and decode tokens and time (null: nowhere). */
  metrics?: Metrics | null
}): InferHandler {
  const { engine, tokenizer, admission, signer, chainId, log, records = null, epoch = () => 0 } = components
  const cheat = components.cheat ?? null
  return async (req, ctx) => {
    const model = engine.model(req.model)
    if (model === undefined || model.id !== req.model) {
      throw new InferRefusal('UNKNOWN_MODEL', `this host does not serve ${req.model}`)
    }
    const context = model.spec.contextLength
    const maxChars = Math.min(MAX_PROMPT_CHARS, model.maxPromptChars)
    if (req.prompt.length === 0) throw new InferRefusal('BAD_REQUEST', 'the prompt is empty')
    if (req.prompt.length > maxChars)
      throw new InferRefusal(
        'CONTEXT_OVERFLOW',
        `a prompt of ${req.prompt.length} characters cannot fit ${context} tokens (at most ${maxChars} characters)`,
      )
    if (!Number.isInteger(req.maxTokens) || req.maxTokens < 1)
      throw new InferRefusal('BAD_REQUEST', 'max_tokens must be at least 1')
    const peer = ctx.from.toString()
    const ticket = admission.admit(req, peer, {
      minPromptTokens: model.minTokens(req.prompt),
      contextLength: context,
    })
    traceStage(log, req.taskId, 'executor: admitted')
    let promptIds: number[]
    let limit: TokenLimit
    try {
      promptIds = await tokenizer.encode(model.id, req.prompt, peer, { signal: ctx.signal })
      traceStage(log, req.taskId, 'executor: tokenized')
      if (promptIds.length + 1 > context)
        throw new InferRefusal(
          'CONTEXT_OVERFLOW',
          `the prompt is ${promptIds.length} tokens; the context holds ${context} with room for one more`,
        )
      limit = tokenLimit(req, ticket.maxCost, promptIds.length)
      if (limit.budget < 1)
        throw new InferRefusal(
          'ESCROW_TOO_LOW',
          `the escrow pays for ${ticket.tokensPaid} tokens; the prompt (${promptIds.length}) and one token need ${promptIds.length + 1}`,
        )
    } catch (err) {
      // Refused before any work: the gateway may still send this task elsewhere, or here again.
      ticket.release()
      if (err instanceof EngineError && err.code === 'BUSY') throw new InferRefusal('BUSY', err.message)
      throw err
    }
    // Chunks go out in order (merged while a write is in flight); the receipt goes after the last.
    let sending = Promise.resolve()
    // The cheats (devnet only) each change one thing of what runs; the receipt claims the request.
    // A substitute: an int8 model's float original when loaded (the float model under the int8
    // SKU), else any other model.
    const others = engine.models().filter((m) => m.id !== model.id)
    const runModel =
      cheat?.mode === 'substituteModel'
        ? (others.find((m) => `${m.name}-int8` === model.name) ?? others[0] ?? model)
        : model
    // SPEC 6.2: an int8 model's products are committed as they are computed.
    const int8 = model.manifest.quantization === 'int8'
    const genReq: GenerationRequest = {
      promptIds,
      sampling: cheat?.mode === 'ignoreSampling' ? GREEDY : req.sampling,
      seed: samplingSeed(req.taskId),
      maxTokens: cheat?.mode === 'truncate' ? Math.max(1, Math.floor(limit.maxTokens / 2)) : limit.maxTokens,
      stop: req.stop,
      ...(cheat?.mode === 'wrongTokens' ? { wrongTokenRate: cheat.rate } : {}),
      ...(int8 && runModel === model ? { audit: true } : {}),
      ...(cheat?.mode === 'corruptProduct' || cheat?.mode === 'skipLayer' ? { auditCheat: cheat.mode } : {}),
    }
    // Prefill ends with the first chunk (which carries the first sampled tokens); decode is the rest.
    const started = performance.now()
    let first: { at: number; tokens: number } | undefined
    const result = await engine.generate(
      runModel.id,
      genReq,
      (chunk) => {
        if (first === undefined) {
          first = { at: performance.now(), tokens: chunk.tokens.length }
          traceStage(log, req.taskId, 'executor: first token')
        }
        sending = ctx.send(chunk)
        sending.catch(() => {}) // seen again below; a broken stream also aborts ctx.signal
      },
      ctx.signal,
    )
    countTokens(components.metrics ?? null, started, first, result)
    if (int8 && runModel !== model) {
      // Another model's tokens under the int8 model's name: the int8 model's products over them.
      const forced = await engine.generate(
        model.id,
        { ...genReq, audit: true, forceTokens: result.tokens },
        () => {},
        ctx.signal,
      )
      result.audit = forced.audit
    }
    await sending
    if (int8 && result.audit === undefined)
      throw new InferRefusal('INTERNAL', `${model.id} committed no products`)
    const receipt: Receipt = {
      taskId: req.taskId,
      modelId: model.id,
      inputHash: ctx.inputHash,
      outputHash: outputHash(result.tokens),
      promptTokens: result.promptTokens,
      completionTokens: result.completionTokens,
      ...(result.audit === undefined ? {} : { auditRoot: result.audit.root }),
    }
    const sig = signReceipt(chainId, signer, receipt)
    log.debug({ peer, tokens: result.completionTokens }, 'task executed')
    // SPEC 6.1: the record verifiers fetch from the executor. A failed write is logged, and the
    // task still answered: the gateway keeps its own record of it.
    await records
      ?.put(
        { request: ctx.requestBytes, tokens: result.tokens, receipt, sig, executor: signer.peerId },
        epoch(),
        result.audit,
      )
      .catch((err: unknown) => log.error({ err, peer }, 'cannot keep the task record'))
    return { receipt, sig, finishReason: taskFinish(result.finishReason, result, limit, req, context) }
  }
}

/** Prefill and decode throughput of one generation: tokens and seconds, for Prometheus to rate. */
function countTokens(
  metrics: Metrics | null,
  started: number,
  first: { at: number; tokens: number } | undefined,
  result: { promptTokens: number; completionTokens: number },
): void {
  if (metrics === null || first === undefined) return
  const { engine } = metrics
  engine.prefillTokens.inc(result.promptTokens)
  engine.prefillSeconds.inc((first.at - started) / 1000)
  const decoded = result.completionTokens - first.tokens
  if (decoded <= 0) return
  engine.decodeTokens.inc(decoded)
  engine.decodeSeconds.inc((performance.now() - first.at) / 1000)
}
