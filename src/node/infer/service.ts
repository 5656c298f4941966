import { peerIdFromString } from '@libp2p/peer-id'
import type { Logger } from '../../util/logger.js'
import { unrefTimer, type Clock } from '../../util/clock.js'
import {
  EngineError,
  MAX_CHAT_MESSAGES,
  type ChatMessage,
  type Engine,
  type SamplingParams,
  type TextModel,
  type TokenizerPool,
} from '../../engine/index.js'
import {
  executorOrder,
  getAccount,
  getInferenceParams,
  outputHash,
  routeCandidates,
  routeSeed,
  taggedHash,
  taskFee,
  taskIdOf,
  toHex,
  tokenBudget,
  TxRejectedError,
  verifyReceipt,
  equalBytes,
  TaskKeys,
  type TaskRecord,
  type Signer,
  type SignedTx,
} from '../../ledger/index.js'
import {
  InferError,
  withinBudget,
  type InferHandler,
  type InferOutcome,
  type InferProtocol,
  type InferRequest,
  type TaskFinish,
} from '../../protocols/index.js'
import { encodeRequest, inputHash, MAX_PROMPT_CHARS } from '../../protocols/infer/codec.js'
import { getEpoch } from '../../ledger/epoch/access.js'
import { getTask } from '../../ledger/task/access.js'
import type { ChainService } from '../chain/service.js'
import { OwnTxError } from '../chain/ownTxs.js'
import { InferenceError } from './errors.js'
import type { TaskStore } from './taskStore.js'
import { Settlements } from './settlements.js'
import { TaskGate, TaskGateError } from './taskGate.js'
import type { Metrics } from '../metrics.js'
import { traceStage } from '../../util/stageTrace.js'

/** Executor refusals that mean "no room for this gateway now", not "broken": try later. */
const BUSY_CODES = new Set(['BUSY', 'RATE_LIMITED', 'UNCONFIRMED_LIMIT'])

/** Prompts of local API clients waiting for or in tokenization at once (the pool's own bound is larger). */
const API_TOKENIZE_BUDGET = 128

/** A client's request, whichever API it came through. */
export interface TaskRequest {
  /** Model name or id. */
  model: string
  input: { prompt: string } | { messages: ChatMessage[] }
  /**
   * Tokens to generate at most; default: what the context allows, within the limit. `maxCost` may
   * end the output sooner (SPEC 7: the executor stops when one more token would exceed it).
   */
  maxTokens?: number
  sampling: SamplingParams
  stop: string[]
  /** Escrow for the task, base units (default from config). */
  maxCost?: bigint
  /**
   * Sent by this daemon's own synthetic traffic (src/node/synthetic), not by a client: marked in
   * its local record only. Nothing sent to the executor or the ledger says so.
   */
  synthetic?: boolean
}

export interface TaskResult {
  taskId: string
  model: string
  executor: string
  text: string
  /** Why the executor stopped; `budget`: one more token would have cost more than `maxCost`. */
  finishReason: TaskFinish
  usage: { promptTokens: number; completionTokens: number }
  cost: bigint
  maxCost: bigint
  receipt: Record<string, unknown>
  /** Executors tried, in draw order; the last one answered. */
  attempts: string[]
}

/** A request that passed every check: nothing has been escrowed or sent yet. */
export interface PreparedTask {
  model: TextModel
  prompt: string
  promptTokens: number
  /** Output tokens asked for: the client's `max_tokens` (or the limit) within the context. */
  maxTokens: number
  maxCost: bigint
  /** Base units a token costs (units per token × the unit price): with `maxCost`, the gas limit. */
  tokenPrice: bigint
  candidates: Array<[string, number]>
  req: TaskRequest
}

export interface InferenceOptions {
  chainId: string
  defaultMaxCost: bigint
  maxTokensLimit: number
  maxAttempts: number
  firstTokenTimeoutMs: number
  taskTimeoutMs: number
  /** Seconds a client told `gateway_busy` should wait (Retry-After); default 1. */
  retryAfterS?: number
  /** Infer streams one executor admits from this peer at once (`protocols.maxStreamsPerPeer`); default 8. */
  executorStreams?: number
  /** Infer requests per second one executor admits from this peer (the infer protocol's rate); default 5. */
  executorRate?: number
}

/**
 * The gateway (SPEC 5.3): checks a client's request, escrows `max_cost` with TaskOpen, draws the
 * executor from the ledger (weighted, keyed by the task id and the epoch seed; the next draw when
 * one fails before its first token), streams the answer back, checks the receipt, settles with
 * TaskReceipt (or refunds with TaskCancel) and keeps the task record for verifiers.
 */
export class InferenceService {
  /** Escrows being settled or refunded until the chain shows it (retried across refusals). */
  private readonly settlements: Settlements
  private readonly onCommit = (): void => this.settlements.check()
  /** Tasks start only as fast as the executors take them from this gateway. */
  private readonly gate: TaskGate
  private readonly taskListeners = new Set<(task: PreparedTask) => void>()

  constructor(
    private readonly components: {
      chain: ChainService
      infer: InferProtocol
      /** This peer's own engine and executor side, when it hosts models. */
      local: { engine: Engine; handler: InferHandler } | null
      /** Models this gateway can tokenize (its engine's, or loaded for routing only). */
      models: TextModel[]
      /** Tokenizes prompts off the event loop, within per-caller budgets. */
      tokenizer: TokenizerPool
      store: TaskStore
      signer: Signer
      log: Logger
      clock: Clock
      /** Counts tasks by outcome and times them (null: nowhere). */
      metrics?: Metrics | null
    },
    private readonly opts: InferenceOptions,
  ) {
    const { chain, signer, clock, log } = components
    this.settlements = new Settlements({ chain, me: signer.peerId, clock, log })
    this.gate = new TaskGate({
      clock,
      setTimer: unrefTimer,
    })
  }

  /**
   * Refund the escrow of tasks this client opened and never settled: a daemon that stopped or
   * died mid-task. Nothing is in flight at start, so every open task of ours is one of those.
   */
  start(): void {
    this.components.chain.onCommit(this.onCommit)
    const state = this.components.chain.replica.state
    for (const [key, task] of state.withPrefix(TaskKeys.task(''))) {
      if ((task as TaskRecord).client !== this.components.signer.peerId) continue
      this.components.log.info({ taskId: key.slice(TaskKeys.task('').length) }, 'refunding an unsettled task')
      this.settlements.cancel(key.slice(TaskKeys.task('').length), null)
    }
  }

  stop(): void {
    this.components.chain.offCommit(this.onCommit)
  }

  /** Models that are approved on the chain and known here, with the number of hosts announcing each. */
  available(): Array<{ model: TextModel; hosts: number }> {
    const state = this.components.chain.replica.state
    const height = this.components.chain.replica.head.height
    return this.servable().map((model) => ({ model, hosts: routeCandidates(state, model.id, height).length }))
  }

  /** Models that are approved on the chain and known here. */
  private servable(): TextModel[] {
    const approved = new Set(
      getInferenceParams(this.components.chain.replica.state)?.models.map(([id]) => id) ?? [],
    )
    return this.components.models.filter((m) => approved.has(m.id))
  }

  /**
   * Check a request against the model, the limits, the balance and the hosts; throws
   * InferenceError. What can be checked by counting characters is checked before the prompt is
   * rendered or tokenized, and tokenizing happens in the tokenizer's worker under the `api`
   * budget (503 gateway_busy with Retry-After when it is spent), so no request holds up the event loop.
   */
  async prepare(req: TaskRequest, signal?: AbortSignal): Promise<PreparedTask> {
    const servable = this.servable()
    const model = servable.find((m) => m.id === req.model || m.name === req.model)
    if (model === undefined) {
      const names = servable.map((m) => m.name)
      throw new InferenceError(
        404,
        'model_not_found',
        `The model '${req.model}' does not exist or is not served here. Available: ${names.join(', ') || 'none'}`,
      )
    }
    const context = model.spec.contextLength
    // A prompt longer than this cannot fit, whatever its tokens: `maxPromptChars` comes from the
    // longest token of the vocabulary.
    const maxChars = Math.min(MAX_PROMPT_CHARS, model.maxPromptChars)
    const tooLong = (chars: number): InferenceError =>
      new InferenceError(
        400,
        'context_length_exceeded',
        `This model's context is ${context} tokens; a prompt of ${chars} characters cannot fit it (at most ${maxChars} characters).`,
      )
    let prompt: string
    if ('prompt' in req.input) prompt = req.input.prompt
    else {
      const messages = req.input.messages
      if (messages.length > MAX_CHAT_MESSAGES)
        throw new InferenceError(400, 'invalid_value', `a chat holds at most ${MAX_CHAT_MESSAGES} messages`)
      const chars = messages.reduce((n, m) => n + m.content.length, 0)
      if (chars > maxChars) throw tooLong(chars)
      try {
        prompt = model.renderChat(messages, maxChars)
      } catch (err) {
        if (err instanceof EngineError) throw new InferenceError(400, 'invalid_value', err.message)
        throw err
      }
    }
    if (prompt.length > maxChars) throw tooLong(prompt.length)
    const limit = this.opts.maxTokensLimit
    if (
      req.maxTokens !== undefined &&
      !(Number.isInteger(req.maxTokens) && req.maxTokens >= 1 && req.maxTokens <= limit)
    )
      throw new InferenceError(400, 'invalid_value', `max_tokens must be an integer from 1 to ${limit}`)
    let promptTokens: number
    try {
      // Local API clients share one budget, larger than a peer's: they are this node's own users,
      // and the API's connection cap already bounds how many of them can be waiting.
      const ids = await this.components.tokenizer.encode(model.id, prompt, 'api', {
        signal,
        maxForKey: API_TOKENIZE_BUDGET,
      })
      promptTokens = ids.length
    } catch (err) {
      if (err instanceof EngineError && err.code === 'BUSY') throw this.busy(err.message)
      if (err instanceof EngineError && err.code === 'CANCELLED')
        throw new InferenceError(499, 'cancelled', 'the client went away')
      throw err
    }
    if (promptTokens === 0) throw new InferenceError(400, 'invalid_value', 'the prompt is empty')
    if (promptTokens + 1 > context) {
      throw new InferenceError(
        400,
        'context_length_exceeded',
        `This model's context is ${context} tokens; the prompt is ${promptTokens} tokens.`,
      )
    }
    if (req.maxTokens !== undefined && promptTokens + req.maxTokens > context) {
      throw new InferenceError(
        400,
        'context_length_exceeded',
        `This model's context is ${context} tokens; the prompt (${promptTokens}) and max_tokens (${req.maxTokens}) exceed it.`,
      )
    }
    const state = this.components.chain.replica.state
    const params = getInferenceParams(state)!
    const units = params.models.find(([id]) => id === model.id)![1]
    const maxCost = req.maxCost ?? this.opts.defaultMaxCost
    const tokenPrice = BigInt(units) * params.unitPrice
    if (tokenBudget(maxCost, tokenPrice, promptTokens) < 1) {
      throw new InferenceError(
        400,
        'max_cost_too_low',
        `max_cost ${maxCost} does not pay for the prompt and one token (${(BigInt(promptTokens + 1) * tokenPrice).toString()} base units)`,
      )
    }
    const balance = getAccount(state, this.components.signer.peerId).balance
    if (balance < maxCost)
      throw new InferenceError(402, 'insufficient_funds', `balance ${balance} is below max_cost ${maxCost}`)
    // Not capped by max_cost: the executor stops where the budget runs out and says so (SPEC 7).
    const maxTokens = Math.min(req.maxTokens ?? limit, context - promptTokens)
    const candidates = routeCandidates(state, model.id, this.components.chain.replica.head.height)
    if (candidates.length === 0)
      throw new InferenceError(503, 'no_executor', `no host with weight announces ${model.id}`)
    return { model, prompt, promptTokens, maxTokens, maxCost, tokenPrice, candidates, req }
  }

  /**
   * Run a prepared task: escrow, route, stream (`onChunk` gets text as it arrives), settle. Throws
   * InferenceError; a task that fails after its escrow is refunded with TaskCancel.
   */
  async run(
    task: PreparedTask,
    onChunk: (text: string, executor: string) => void,
    signal?: AbortSignal,
  ): Promise<TaskResult> {
    const gateway = this.components.metrics?.gateway
    if (gateway === undefined) return this.gated(task, onChunk, signal)
    const firstToken = gateway.timeToFirstToken.startTimer()
    const total = gateway.duration.startTimer()
    let first = true
    try {
      const result = await this.gated(
        task,
        (text, executor) => {
          if (first) firstToken()
          first = false
          onChunk(text, executor)
        },
        signal,
      )
      total()
      gateway.tasks.inc({ outcome: 'completed' })
      return result
    } catch (err) {
      gateway.tasks.inc({ outcome: err instanceof InferenceError ? err.code : 'error' })
      throw err
    }
  }

  /** `run` once the task gate lets it in. */
  private async gated(
    task: PreparedTask,
    onChunk: (text: string, executor: string) => void,
    signal?: AbortSignal,
  ): Promise<TaskResult> {
    const hosts = task.candidates.length
    let leave: () => void
    try {
      leave = await this.gate.enter(
        {
          running: hosts * (this.opts.executorStreams ?? 8),
          perSecond: hosts * (this.opts.executorRate ?? 5),
        },
        signal,
      )
    } catch (err) {
      if (!(err instanceof TaskGateError)) throw err
      if (err.code === 'ABORTED') throw new InferenceError(499, 'cancelled', 'the client went away')
      throw this.busy(err.message)
    }
    try {
      const result = await this.runTask(task, onChunk, signal)
      if (task.req.synthetic !== true) for (const listener of this.taskListeners) listener(task)
      return result
    } finally {
      leave()
    }
  }

  /** Called with every client task that settled here (synthetic traffic copies their shapes). */
  onTask(listener: (task: PreparedTask) => void): void {
    this.taskListeners.add(listener)
  }

  /**
   * Whether task `idHex`'s TaskOpen is in a block: at once, or once a block commits it within
   * `firstTokenTimeoutMs` (false when none does, or when the client leaves).
   */
  private inBlock(idHex: string, signal?: AbortSignal): Promise<boolean> {
    const { chain } = this.components
    const opened = (): boolean => getTask(chain.replica.state, idHex) !== undefined
    if (opened()) return Promise.resolve(true)
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        chain.offCommit(onCommit)
        signal?.removeEventListener('abort', onAbort)
        cancel()
        resolve(ok)
      }
      const onCommit = (): void => {
        if (opened()) done(true)
      }
      const onAbort = (): void => done(false)
      const cancel = unrefTimer(() => done(false), this.opts.firstTokenTimeoutMs)
      chain.onCommit(onCommit)
      signal?.addEventListener('abort', onAbort)
    })
  }

  private busy(why: string): InferenceError {
    return new InferenceError(503, 'gateway_busy', `the gateway is saturated (${why}); retry shortly`, {
      'retry-after': String(this.opts.retryAfterS ?? 1),
    })
  }

  private async runTask(
    task: PreparedTask,
    onChunk: (text: string, executor: string) => void,
    signal?: AbortSignal,
  ): Promise<TaskResult> {
    const { chain, signer, log } = this.components
    const open = await this.escrow(task, signal)
    const taskId = taskIdOf(signer.peerId, open.nonce)
    const idHex = toHex(taskId)
    traceStage(log, idHex, 'gateway: escrowed')
    const state = chain.replica.state
    const seed = routeSeed(state, taggedHash('cordex/route-seed'))
    const order = executorOrder(task.candidates, taskId, seed)
    const request: InferRequest = {
      taskId,
      model: task.model.id,
      prompt: task.prompt,
      maxTokens: task.maxTokens,
      tokenPrice: task.tokenPrice,
      sampling: task.req.sampling,
      stop: task.req.stop,
      // The executor checks the escrow with it, and admits it itself if gossip is slower than us.
      open: open.bytes,
    }
    const tokens: number[] = []
    let text = ''
    const attempts: string[] = []
    // Why each executor tried failed, in order: the client's error names them all.
    const failures: string[] = []
    // Every executor tried said it had no room for us (now): the network is saturated, not broken.
    let allBusy = true
    // An executor that refuses the task only because this gateway's TaskOpens are still
    // unconfirmed (SPEC 5.3) admits it once its TaskOpen is in a block: it is asked again then,
    // once, rather than refunding an escrow that is about to land.
    let waitedForBlock = false
    attempt: for (const executor of order.slice(0, this.opts.maxAttempts)) {
      attempts.push(executor)
      const collect = (c: { tokens: number[]; text: string }): void => {
        tokens.push(...c.tokens)
        text += c.text
        if (c.text.length > 0) onChunk(c.text, executor)
      }
      for (;;) {
        try {
          const outcome = await this.execute(executor, request, collect, signal)
          this.checkReceipt(task, outcome, executor, request, tokens)
          const route = { idHex, openNonce: open.nonce, executor, attempts, seed, order }
          return await this.settle(task, route, outcome, text, tokens)
        } catch (err) {
          const before = err instanceof InferError ? err.meta.beforeFirstToken : tokens.length === 0
          const code = err instanceof InferError ? err.meta.remoteCode : undefined
          if (code === 'UNCONFIRMED_LIMIT' && !waitedForBlock && signal?.aborted !== true) {
            waitedForBlock = true
            log.info({ taskId: idHex, executor }, 'the executor waits for the escrow to be in a block')
            if (await this.inBlock(idHex, signal)) continue
          }
          failures.push(`${executor}: ${(err as Error).message}`)
          allBusy &&= BUSY_CODES.has(code ?? '')
          log.warn({ taskId: idHex, executor, err: (err as Error).message, before }, 'executor failed')
          if (!before || signal?.aborted === true) break attempt
          continue attempt
        }
      }
    }
    const refunded = this.settlements.cancel(idHex, open.nonce)
    if (signal?.aborted === true) throw new InferenceError(499, 'cancelled', 'the client went away')
    const escrow = refunded ? 'escrow refunded' : 'refund pending (retried until it is in a block)'
    if (allBusy)
      throw this.busy(`every executor tried is busy: ${failures.join('; ')}; task ${idHex}: ${escrow}`)
    const why = failures.length === 0 ? 'no executor answered' : failures.join('; ')
    throw new InferenceError(502, 'executor_failed', `task ${idHex} failed, ${escrow}: ${why}`)
  }

  /**
   * Escrow the task with TaskOpen, through the queue of own transactions: it waits (bounded) while
   * this node already has as many pending as the mempools admit. Every refusal comes before
   * anything is escrowed; a saturated gateway answers 503 gateway_busy with Retry-After.
   */
  private async escrow(task: PreparedTask, signal?: AbortSignal): Promise<SignedTx> {
    const busy = (why: string): InferenceError => this.busy(why)
    if (this.settlements.full) throw busy(`${this.settlements.size} tasks still being settled`)
    try {
      return await this.components.chain.queueTx(
        'TaskOpen',
        { model: task.model.id, maxCost: task.maxCost },
        { lane: 'new', signal },
      ).done
    } catch (err) {
      if (err instanceof OwnTxError) {
        if (err.code === 'ABORTED') throw new InferenceError(499, 'cancelled', 'the client went away')
        throw busy(err.message)
      }
      if (err instanceof TxRejectedError && err.code === 'INSUFFICIENT_FUNDS')
        throw new InferenceError(402, 'insufficient_funds', err.message)
      if (err instanceof TxRejectedError) throw new InferenceError(400, 'task_refused', err.message)
      // Not the client's doing: logged whole here, a plain 500 with no internals to the client.
      this.components.log.error({ err }, 'cannot escrow a task')
      throw new InferenceError(500, 'internal_error', 'the gateway could not escrow the task')
    }
  }

  private async execute(
    executor: string,
    request: InferRequest,
    onChunk: (c: { tokens: number[]; text: string }) => void,
    signal?: AbortSignal,
  ): Promise<InferOutcome> {
    const { local, infer, signer } = this.components
    if (executor === signer.peerId) {
      if (local === null) throw new Error('this peer is drawn but hosts no engine')
      // The frame a remote executor would have received: its record and receipt hash this.
      const requestBytes = encodeRequest(request)
      const hash = inputHash(requestBytes)
      const done = await local.handler(request, {
        from: peerIdFromString(signer.peerId),
        inputHash: hash,
        requestBytes,
        signal: signal ?? new AbortController().signal,
        send: async (c) => onChunk(c),
      })
      return { ...done, inputHash: hash, requestBytes }
    }
    return infer.run(peerIdFromString(executor), request, {
      onChunk,
      firstTokenTimeoutMs: this.opts.firstTokenTimeoutMs,
      timeoutMs: this.opts.taskTimeoutMs,
      signal,
    })
  }

  /**
   * The receipt must be the executor's, for this task and request, over the tokens that arrived,
   * counting the prompt as this gateway did and no more output than the request and its budget
   * allow (SPEC 7), so that no receipt bills beyond the gas limit; a `budget` finish must be where
   * the budget ran out.
   */
  private checkReceipt(
    task: PreparedTask,
    outcome: InferOutcome,
    executor: string,
    req: InferRequest,
    tokens: number[],
  ): void {
    const { receipt: r, sig } = outcome
    const ok =
      equalBytes(r.taskId, req.taskId) &&
      r.modelId === req.model &&
      equalBytes(r.inputHash, outcome.inputHash) &&
      equalBytes(r.outputHash, outputHash(tokens)) &&
      r.completionTokens === tokens.length &&
      // An int8 model's receipt commits to its products (SPEC 6.2); no other receipt claims to.
      (r.auditRoot !== undefined) === (task.model.manifest.quantization === 'int8') &&
      withinBudget(
        r,
        outcome.finishReason,
        req,
        task.maxCost,
        task.promptTokens,
        task.model.spec.contextLength,
      ) &&
      verifyReceipt(this.opts.chainId, executor, r, sig)
    if (!ok)
      throw new InferError('MALFORMED', 'the receipt does not match the task or the output', {
        peer: executor,
        beforeFirstToken: false,
      })
  }

  private async settle(
    task: PreparedTask,
    route: {
      idHex: string
      openNonce: number
      executor: string
      attempts: string[]
      seed: Uint8Array
      order: string[]
    },
    outcome: InferOutcome,
    text: string,
    tokens: number[],
  ): Promise<TaskResult> {
    const { chain, store, clock, log } = this.components
    const { idHex, executor, attempts } = route
    const { receipt, sig, finishReason, requestBytes } = outcome
    this.settlements.receipt(idHex, route.openNonce, { receipt, executor, sig })
    const params = getInferenceParams(chain.replica.state)!
    const units = params.models.find(([id]) => id === task.model.id)?.[1] ?? 0
    const cost = taskFee(
      receipt.promptTokens + receipt.completionTokens,
      units,
      // The price the task was opened at, once its TaskOpen is on the ledger (SPEC 7).
      (chain.replica.state.get(TaskKeys.task(idHex)) as TaskRecord | undefined)?.unitPrice ??
        params.unitPrice,
      task.maxCost,
    )
    const receiptJson = {
      taskId: idHex,
      modelId: receipt.modelId,
      inputHash: toHex(receipt.inputHash),
      outputHash: toHex(receipt.outputHash),
      promptTokens: receipt.promptTokens,
      completionTokens: receipt.completionTokens,
      ...(receipt.auditRoot === undefined ? {} : { auditRoot: toHex(receipt.auditRoot) }),
      executor,
      sig: toHex(sig),
    }
    // SPEC 5.3 step 5: kept for verifiers, stamped with the epoch whose rewards it backs.
    const epoch = getEpoch(chain.replica.state)?.number ?? 0
    const verifiable = { request: requestBytes, tokens, receipt, sig, executor }
    await store
      .put(
        {
          taskId: idHex,
          time: clock.now(),
          epoch,
          model: task.model.id,
          executor,
          request: {
            model: task.req.model,
            input: task.req.input,
            sampling: task.req.sampling,
            stop: task.req.stop,
            maxTokens: task.maxTokens,
            maxCost: task.maxCost.toString(),
            tokenPrice: task.tokenPrice.toString(),
          },
          route: { seed: toHex(route.seed), candidates: task.candidates, order: route.order, attempts },
          prompt: task.prompt,
          output: text,
          tokens,
          receipt: receiptJson,
          receiptSig: toHex(sig),
          cost: cost.toString(),
          ...(task.req.synthetic === true ? { synthetic: true } : {}),
        },
        verifiable,
      )
      .catch((err: unknown) => log.error({ err, taskId: idHex }, 'cannot store the task record'))
    return {
      taskId: idHex,
      model: task.model.id,
      executor,
      text,
      finishReason,
      usage: { promptTokens: receipt.promptTokens, completionTokens: receipt.completionTokens },
      cost,
      maxCost: task.maxCost,
      receipt: receiptJson,
      attempts,
    }
  }
}
