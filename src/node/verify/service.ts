import { peerIdFromString } from '@libp2p/peer-id'
import type { Logger } from '../../util/logger.js'
import { deadline } from '../../util/deadline.js'
import {
  decodeTx,
  getChecked,
  getVerifyParams,
  selectionKey,
  taggedHash,
  type Signer,
  type TaskOpenBody,
  type VerifyResultBody,
} from '../../ledger/index.js'
import { auditProducts, EngineError, type Engine, type TokenizerPool } from '../../engine/index.js'
import { DEFAULT_REPLAY_EPSILON, type ReplayRequest } from '../../engine/llm/replay.js'
import { decodeRequest, maxRequestBytes, tokenLimit } from '../../protocols/infer/index.js'
import {
  inferRequestReader,
  type TaskOpenings,
  type TaskProtocol,
  type TaskRecordData,
} from '../../protocols/task/index.js'
import {
  deriveChallenge,
  FREIVALDS_DEFAULTS,
  PrimeField,
  type AuditParams,
} from '../../verify/freivalds/index.js'
import { checkTaskRecord, checksDue, keptAudits, revealDue, type DueCheck } from '../../verify/index.js'
import type { ChainService } from '../chain/service.js'
import { samplingSeed } from '../infer/seed.js'
import type { Metrics } from '../metrics.js'

/** Devnet-only verifier misbehaviour (docs/verification.md, "Cheating on purpose"). */
export type VerifierCheat = 'skipChecks' | 'falseAccuse' | null

export interface VerifierOptions {
  /** Deadline for fetching a task record from one peer, ms. */
  recordTimeoutMs: number
  /**
   * How much of an int8 task to audit (docs/verification.md, "Freivalds audits"): rows opened per
   * product (the same positions in every product, all products) and rounds of Freivalds' check.
   */
  freivalds: Pick<AuditParams, 'rows' | 'rounds'>
  /** Checks waiting here at most; more are dropped (and count as skipped duty). */
  maxQueued: number
  cheat: VerifierCheat
}

export const DEFAULT_VERIFIER: VerifierOptions = {
  recordTimeoutMs: 10_000,
  freivalds: { rows: FREIVALDS_DEFAULTS.rows, rounds: FREIVALDS_DEFAULTS.rounds },
  maxQueued: 4096,
  cheat: null,
}

/** A record that could not be had, or did not hold together: a failed check (SPEC 6.1). */
class NoRecord extends Error {}

/**
 * The verifier (SPEC 6): after each block, the tasks this peer's key selects and the disputed tasks
 * it may vote on are queued; one at a time, it fetches each record over `task` (from the executor,
 * else from the gateway), checks it against the settled receipt, replays it on the local engine
 * (in the engine's worker) and posts a VerifyResult. Once an epoch is over and its checks are done,
 * it reveals its selection key for that epoch. Heavy work never runs on the event loop: records are
 * checked by hashing, prompts are tokenized in the tokenizer pool, replays run in the engine.
 */
export class VerifierService {
  private readonly opts: VerifierOptions
  private readonly queue: DueCheck[] = []
  private readonly queued = new Set<string>()
  /**
   * Checks done (or skipped) here, by `duty:task` and the task's epoch: never queued again,
   * whatever their vote's fate. A task sampled here without a vote (the check could not run) may
   * still be checked again when it is disputed.
   */
  private readonly handled = new Map<string, number>()
  private readonly keys = new Map<number, Uint8Array>()
  private readonly revealed = new Set<number>()
  private scannedHeight = 0
  private prunedFor = -1
  private running = false
  private working: Promise<void> = Promise.resolve()
  private readonly abort = new AbortController()
  private readonly onCommit = (): void => this.scan()

  constructor(
    private readonly components: {
      chain: ChainService
      engine: Engine
      tokenizer: TokenizerPool
      tasks: TaskProtocol
      /** Openings of int8 tasks' committed products, from their executors. */
      openings: TaskOpenings
      signer: Signer
      chainId: string
      log: Logger
      /** This daemon's own records (TaskRecordSource.get). */
      local: (taskId: Uint8Array) => Promise<TaskRecordData | undefined>
      /** The executor's records, pruned once no audit can still ask for them. */
      records?: { prune(beforeEpoch: number): Promise<number> } | null
      /** Counts checks by duty and result (null: nowhere). */
      metrics?: Metrics | null
    },
    opts: Partial<VerifierOptions> = {},
  ) {
    this.opts = { ...DEFAULT_VERIFIER, ...opts }
  }

  start(): void {
    if (getVerifyParams(this.components.chain.replica.state) === undefined) return
    this.running = true
    this.components.chain.onCommit(this.onCommit)
    this.scan()
  }

  async stop(): Promise<void> {
    this.running = false
    this.components.chain.offCommit(this.onCommit)
    this.abort.abort()
    await this.working
  }

  /** Checks waiting or running, for status and tests. */
  get pending(): number {
    return this.queue.length
  }

  private keyFor = (epoch: number): Uint8Array => {
    let k = this.keys.get(epoch)
    if (k === undefined) {
      k = selectionKey(this.components.signer, this.components.chainId, epoch)
      this.keys.set(epoch, k)
      for (const e of this.keys.keys()) if (e < epoch - 8) this.keys.delete(e)
    }
    return k
  }

  /**
   * Queue the checks due (checksDue: samples in the open audits, escalations in any audit not yet
   * dropped), then reveal the last epoch's key when nothing of it is left to check. A full pass
   * over at most `2 + disputeEpochs` epochs' task ids, after each block: cheap next to a block at
   * devnet and test scale (a chain with many more tasks would follow the blocks' transactions
   * instead).
   */
  private scan(): void {
    if (!this.running) return
    const { chain, signer } = this.components
    const state = chain.replica.state
    const height = chain.replica.head.height
    if (height === this.scannedHeight) return
    this.scannedHeight = height
    const { from, to: current } = keptAudits(state)
    const due = checksDue(state, signer.peerId, this.keyFor, (idHex) => this.queued.has(idHex))
    for (const job of due) {
      if (this.handled.has(`${job.duty}:${job.idHex}`)) continue
      if (this.queue.length >= this.opts.maxQueued) {
        this.components.log.warn({ task: job.idHex }, 'verifier queue full: check skipped')
        this.components.metrics?.verify.checks.inc({ duty: job.duty, result: 'skipped' })
        continue
      }
      this.queued.add(job.idHex)
      this.enqueue(job)
    }
    for (const [id, e] of this.handled) if (e < from) this.handled.delete(id)
    const prev = current - 1
    const busy = this.queue.some((j) => j.epoch === prev && j.duty === 'sample')
    if (!this.revealed.has(prev) && revealDue(state, signer.peerId, prev, current, busy)) {
      this.revealed.add(prev)
      chain
        .queueTx('VerifyKey', { epoch: prev, key: this.keyFor(prev) }, { lane: 'settle' })
        .done.catch((err: Error) => {
          this.revealed.delete(prev)
          this.components.log.warn({ epoch: prev, err: err.message }, 'key reveal failed')
        })
      this.components.log.info({ epoch: prev }, 'selection key revealed')
    }
    this.prune(current)
    if (this.queue.length > 0) this.work()
  }

  /**
   * An escalation goes before the sampled checks waiting: a dispute is decided by its votes, and
   * the sampled checks of an open audit have until it closes.
   */
  private enqueue(job: DueCheck): void {
    if (job.duty !== 'escalation') {
      this.queue.push(job)
      return
    }
    // Not before the first job: it may be running.
    const at = this.queue.findIndex((j, i) => i > 0 && j.duty !== 'escalation')
    this.queue.splice(at === -1 ? this.queue.length : at, 0, job)
  }

  /**
   * Records of an epoch are asked for until its audit is dropped, `disputeEpochs` audits after
   * it closes (at the end of the next epoch); older ones go, once per epoch.
   */
  private prune(current: number): void {
    const { records, chain, log } = this.components
    const params = getVerifyParams(chain.replica.state)
    if (records == null || params === undefined || current === this.prunedFor) return
    this.prunedFor = current
    const before = current - 2 - params.disputeEpochs
    if (before <= 0) return
    this.working = this.working.then(() =>
      records.prune(before).then(
        (n) => {
          if (n > 0) log.debug({ before, records: n }, 'task records pruned')
        },
        (err: Error) => log.warn({ err: err.message }, 'cannot prune task records'),
      ),
    )
  }

  /** One check at a time: each holds an engine slot, which inference also needs. */
  private work(): void {
    this.working = this.working.then(async () => {
      while (this.running && this.queue.length > 0) {
        const job = this.queue[0]!
        const checks = this.components.metrics?.verify.checks
        try {
          checks?.inc({ duty: job.duty, result: await this.check(job) })
        } catch (err) {
          if (!this.running) return
          // The engine is busy serving: try again after the next block.
          if (err instanceof EngineError && err.code === 'BUSY') return
          checks?.inc({ duty: job.duty, result: 'error' })
          this.components.log.warn({ task: job.idHex, err: (err as Error).message }, 'check failed to run')
        }
        this.queue.shift()
        this.queued.delete(job.idHex)
        this.handled.set(`${job.duty}:${job.idHex}`, job.epoch)
      }
    })
  }

  /**
   * Check one task and post the verdict. Returns the verdict's reason (`ok` when it passed), or
   * `decided` when the task was decided while it waited, or `skipped` (the skipChecks cheat).
   */
  private async check(job: DueCheck): Promise<string> {
    const { chain, log } = this.components
    const task = getChecked(chain.replica.state, job.idHex)
    // Decided (or pruned) while it waited: nothing to add.
    if (task === undefined || (task.status !== 'open' && task.status !== 'disputed')) return 'decided'
    if (this.opts.cheat === 'skipChecks') return 'skipped'
    let verdict: Omit<VerifyResultBody, 'taskId'>
    if (this.opts.cheat === 'falseAccuse') {
      verdict = { ok: false, reason: 'token', position: 0, expected: 0, actual: 0 }
    } else {
      verdict = await this.replay(job, task.executor, task.client, task.receipt)
    }
    const body: VerifyResultBody = { taskId: job.taskId, ...verdict }
    log.info({ task: job.idHex, duty: job.duty, ok: verdict.ok, reason: verdict.reason }, 'task checked')
    await chain.queueTx('VerifyResult', body, { lane: 'settle' }).done
    return verdict.reason
  }

  /** Fetch the record, check it against the settled receipt, replay it. */
  private async replay(
    job: DueCheck,
    executor: string,
    gateway: string,
    digest: Uint8Array,
  ): Promise<Omit<VerifyResultBody, 'taskId'>> {
    let record: TaskRecordData
    try {
      record = await this.fetch(job, [executor, gateway], digest)
    } catch (err) {
      if (!(err instanceof NoRecord)) throw err
      return { ok: false, reason: 'record', position: 0, expected: 0, actual: -1 }
    }
    const { engine, tokenizer, chain } = this.components
    const req = decodeRequest(record.request, maxRequestBytes())
    const model = engine.model(req.model)
    if (model === undefined || model.id !== req.model)
      throw new Error(`model ${req.model} is not loaded here: cannot check`)
    const promptIds = await tokenizer.encode(model.id, req.prompt, 'verifier', { signal: this.abort.signal })
    // The receipt's prompt count is what the client paid for: it must be the prompt's.
    if (promptIds.length !== record.receipt.promptTokens)
      return {
        ok: false,
        reason: 'record',
        position: 0,
        expected: promptIds.length,
        actual: record.receipt.promptTokens,
      }
    // SPEC 7: the executor stopped where the TaskOpen's escrow ran out at the request's token
    // price; the replay holds it to the same limit. An executor serves no request without a
    // TaskOpen, so a record without one is the executor's.
    let maxCost: bigint
    try {
      const open = decodeTx(chain.registry, req.open, chain.limits.maxTxBytes)
      if (open.type !== 'TaskOpen') throw new Error(`a ${open.type}`)
      maxCost = (open.body as TaskOpenBody).maxCost
    } catch {
      return { ok: false, reason: 'record', position: 0, expected: 0, actual: -1 }
    }
    const limit = tokenLimit(req, maxCost, promptIds.length)
    const replay: ReplayRequest = {
      promptIds,
      tokens: record.tokens,
      sampling: req.sampling,
      seed: samplingSeed(req.taskId),
      maxTokens: Math.max(1, limit.maxTokens),
      stop: req.stop,
    }
    // SPEC 6.2: an int8 model's task is audited through its committed products, not replayed.
    const products = auditProducts(model.manifest, model.spec.layers)
    if (products !== null || record.receipt.auditRoot !== undefined)
      return this.audit(job, executor, record, replay, products)
    const verdict = await engine.replay(model.id, replay, DEFAULT_REPLAY_EPSILON, this.abort.signal)
    if (verdict.ok) return { ok: true, reason: 'ok', position: 0, expected: 0, actual: 0 }
    return {
      ok: false,
      reason: verdict.reason,
      position: verdict.position,
      expected: Math.max(0, verdict.expected),
      actual: verdict.actual,
    }
  }

  /**
   * The int8 audit (SPEC 6.2, issue 13): the challenge comes from this verifier's selection key
   * for the task's epoch and the committed root (unknown to the executor before it committed, and
   * recomputable by anyone once the key is revealed); the executor opens the challenged rows; the
   * engine's worker checks them (Freivalds, the float glue, the tokens). An executor that cannot
   * open its own commitment fails the check, as one that keeps no record does.
   */
  private async audit(
    job: DueCheck,
    executor: string,
    record: TaskRecordData,
    replay: ReplayRequest,
    products: ReturnType<typeof auditProducts>,
  ): Promise<Omit<VerifyResultBody, 'taskId'>> {
    const { receipt } = record
    const root = receipt.auditRoot
    const rows = receipt.promptTokens + receipt.completionTokens - 1
    const fail = (reason: VerifyResultBody['reason'], position = 0, expected = 0, actual = -1) =>
      ({ ok: false, reason, position, expected: Math.max(0, expected), actual }) as const
    // A root for a model that commits nothing, or none for one that does: the receipt is not one.
    if (products === null || root === undefined || rows < 1) return fail('record')
    const field = new PrimeField(FREIVALDS_DEFAULTS.p)
    const shapes = products.map((p) => ({ ...p, rows }))
    const randomness = taggedHash('cordex/freivalds/randomness', this.keyFor(job.epoch), job.taskId)
    const { freivalds } = this.opts
    const challenge = deriveChallenge(
      randomness,
      root,
      shapes,
      { products: shapes.length, rows: freivalds.rows, rounds: freivalds.rounds, shareRows: true },
      field,
    )
    const requests = challenge.map((c) => ({ product: c.product, rows: c.rows }))
    let openings
    const time = deadline(this.opts.recordTimeoutMs, this.abort.signal)
    try {
      openings = await this.components.openings.fetchOpenings(
        peerIdFromString(executor),
        job.taskId,
        requests,
        time.signal,
      )
    } catch (err) {
      if (this.abort.signal.aborted) throw err
      this.components.log.info({ task: job.idHex, err: (err as Error).message }, 'openings not fetched')
      return fail('record')
    } finally {
      time.clear()
    }
    const verdict = await this.components.engine.audit(
      receipt.modelId,
      { root, rows, p: field.p, challenge, openings, replay, eps: DEFAULT_REPLAY_EPSILON },
      this.abort.signal,
    )
    if (verdict.ok) {
      this.components.log.debug({ task: job.idHex, ...verdict }, 'int8 audit passed')
      return { ok: true, reason: 'ok', position: 0, expected: 0, actual: 0 }
    }
    this.components.log.info({ task: job.idHex, ...verdict }, 'int8 audit failed')
    return fail(verdict.reason, verdict.position, verdict.expected, verdict.actual)
  }

  /** The first record from `peers` that is the settled one and holds together. */
  private async fetch(job: DueCheck, peers: string[], digest: Uint8Array): Promise<TaskRecordData> {
    const { tasks, chainId, log, local } = this.components
    for (const peer of new Set(peers)) {
      const time = deadline(this.opts.recordTimeoutMs, this.abort.signal)
      try {
        // This peer's own records (it was the task's gateway) need no network.
        const record =
          peer === this.components.signer.peerId
            ? await local(job.taskId)
            : await tasks.fetchTaskRecord(peerIdFromString(peer), job.taskId, time.signal)
        if (record === undefined) continue
        const checked = checkTaskRecord(record, { digest }, chainId, inferRequestReader)
        if (checked.ok) return record
        log.warn({ task: job.idHex, peer, failure: checked.failure }, 'task record does not hold')
      } catch (err) {
        if (this.abort.signal.aborted) throw err
        log.info({ task: job.idHex, peer, err: (err as Error).message }, 'task record not fetched')
      } finally {
        time.clear()
      }
    }
    throw new NoRecord()
  }
}
