import type { Logger } from '../../util/logger.js'
import { epochWeights, getParams, type StateReader } from '../../ledger/index.js'
import { getEpoch } from '../../ledger/epoch/access.js'
import { getAudit } from '../../ledger/verify/access.js'
import type { ChatMessage } from '../../engine/index.js'
import type { PreparedTask, TaskRequest, TaskResult } from '../infer/service.js'
import { arrivals, syntheticQuota, type Quota, type Random } from './plan.js'
import type { RequestShape, TrafficShapes } from './shapes.js'

/** What the sender needs of the chain (ChainService is one). */
export interface SyntheticChain {
  readonly replica: { readonly state: StateReader; readonly head: { height: number } }
  onCommit(listener: () => void): void
  offCommit(listener: () => void): void
  /** Recent mean block interval, ms; null before there are two blocks to measure. */
  blockIntervalMs(): number | null
}

/** The gateway, exactly as local clients use it: synthetic tasks take no other path. */
export interface SyntheticGateway {
  prepare(req: TaskRequest, signal?: AbortSignal): Promise<PreparedTask>
  run(
    task: PreparedTask,
    onChunk: (text: string, executor: string) => void,
    signal?: AbortSignal,
  ): Promise<TaskResult>
  /** Models that are approved and can be sent here. */
  available(): Array<{ model: { id: string; spec: { contextLength: number } }; hosts: number }>
}

/** Writes a prompt of about `tokens` tokens for `model` (the engine's own text; docs/economics.md). */
export type PromptWriter = (model: string, tokens: number, signal: AbortSignal) => Promise<string>

export interface SyntheticOptions {
  /** Tasks per epoch below which this validator sends its share of the shortfall; 0: never. */
  minTasksPerEpoch: number
  maxPerEpoch: number
  /** Synthetic tasks of this peer running at once, at most (beyond it an arrival is skipped). */
  maxInFlight: number
  /** Block interval assumed before one is measured, ms. */
  blockIntervalMs: number
}

/** One epoch's plan and what came of it (`GET /synthetic`). */
export interface SyntheticEpoch extends Quota {
  epoch: number
  /** Tasks settled in the previous epoch, all of them, as the ledger counts them. */
  settled: number
  share: number
  /** Synthetic tasks of this peer that settled (task ids), failed or were skipped (too many in flight). */
  sent: string[]
  failed: number
  skipped: number
}

/** Epochs of plans kept for the API. */
const KEPT_EPOCHS = 16

/**
 * Synthetic tasks when demand is low (SPEC 6.4; seed 004, "Dummy tasks"; docs/economics.md). At
 * each epoch change this validator (a peer with weight) counts the previous epoch's tasks on the
 * ledger, estimates how many were real, and when they fall short of `minTasksPerEpoch` it sends
 * its weight's share of the shortfall through its own gateway, at random times over the epoch,
 * in shapes drawn from the real requests it has seen, with prompts its engine writes. Hosts get
 * them as any task (same request, same escrow, same routing and pay); only this daemon knows.
 * The first epoch after start is not planned: what this peer sent before it is unknown.
 */
export class SyntheticTraffic {
  private lastEpoch: number | null = null
  /** Synthetic tasks of this peer by the epoch they settled in (the last few). */
  private readonly ownByEpoch = new Map<number, number>()
  private readonly plans: SyntheticEpoch[] = []
  private prevShare = 0
  private inFlight = 0
  private timers: Array<() => void> = []
  private abort = new AbortController()
  private readonly onCommit = (): void => {
    this.check()
  }

  constructor(
    private readonly components: {
      chain: SyntheticChain
      gateway: SyntheticGateway
      shapes: TrafficShapes
      writePrompt: PromptWriter
      me: string
      log: Logger
      random: Random
      setTimer: (fn: () => void, ms: number) => () => void
    },
    private readonly opts: SyntheticOptions,
  ) {}

  start(): void {
    if (this.opts.minTasksPerEpoch <= 0) return
    this.lastEpoch = getEpoch(this.components.chain.replica.state)?.number ?? 0
    this.components.chain.onCommit(this.onCommit)
  }

  stop(): void {
    this.components.chain.offCommit(this.onCommit)
    for (const cancel of this.timers) cancel()
    this.timers = []
    this.abort.abort()
    this.abort = new AbortController()
  }

  /** Real request shapes kept to copy. */
  get shapes(): number {
    return this.components.shapes.size
  }

  /** The last epochs' plans, newest last. */
  history(): SyntheticEpoch[] {
    return this.plans.map((p) => ({ ...p, sent: [...p.sent] }))
  }

  /** A real request the gateway ran: its shape is what synthetic ones copy. */
  observe(task: PreparedTask): void {
    const { req } = task
    this.components.shapes.observe({
      model: task.model.id,
      chat: 'messages' in req.input,
      promptTokens: task.promptTokens,
      ...(req.maxTokens !== undefined ? { maxTokens: req.maxTokens } : {}),
      ...(req.maxCost !== undefined ? { maxCost: req.maxCost } : {}),
      sampling: req.sampling,
      stop: req.stop,
    })
  }

  /** Plan the epoch when it changes; exposed for tests. Returns the plan made, if one was. */
  check(): SyntheticEpoch | null {
    const { chain, me, log, random } = this.components
    const state = chain.replica.state
    const epoch = getEpoch(state)
    const number = epoch?.number ?? 0
    if (this.lastEpoch === null || number === this.lastEpoch) return null
    this.lastEpoch = number
    const weights = epochWeights(state, epoch)
    const total = weights.reduce((n, [, w]) => n + w, 0)
    const share = total > 0 ? (weights.find(([p]) => p === me)?.[1] ?? 0) / total : 0
    const audit = getAudit(state, number - 1)
    const settled = audit?.tasks ?? 0
    const q = syntheticQuota(
      {
        minTasks: this.opts.minTasksPerEpoch,
        settled,
        ownSynthetic: this.ownByEpoch.get(number - 1) ?? 0,
        prevShare: this.prevShare,
        share,
        maxPerEpoch: this.opts.maxPerEpoch,
      },
      random,
    )
    this.prevShare = share
    // Without an audit the ledger does not count tasks (no `verification` in genesis): then no
    // shortfall can be known, and nothing is sent.
    const quota = audit === undefined ? 0 : q.quota
    const plan: SyntheticEpoch = {
      epoch: number,
      settled,
      share,
      ...q,
      quota,
      sent: [],
      failed: 0,
      skipped: 0,
    }
    this.plans.push(plan)
    if (this.plans.length > KEPT_EPOCHS) this.plans.shift()
    for (const e of this.ownByEpoch.keys()) if (e < number - KEPT_EPOCHS) this.ownByEpoch.delete(e)
    if (quota > 0) {
      // Over what is left of the epoch: until the next Race is due.
      const blocks = Math.max(
        1,
        (epoch?.raceStart ?? 0) + getParams(state).epochBlocks - chain.replica.head.height,
      )
      const windowMs = blocks * (chain.blockIntervalMs() ?? this.opts.blockIntervalMs)
      for (const at of arrivals(quota, windowMs, random))
        this.timers.push(this.components.setTimer(() => void this.send(plan), at))
    }
    log.info({ epoch: number, settled, share, ...q, quota }, 'synthetic tasks planned')
    return plan
  }

  private async send(plan: SyntheticEpoch): Promise<void> {
    const { gateway, shapes, writePrompt, chain, log } = this.components
    if (this.inFlight >= this.opts.maxInFlight) {
      plan.skipped++
      return
    }
    const models = gateway.available().filter((m) => m.hosts > 0)
    if (models.length === 0) {
      plan.failed++
      return
    }
    this.inFlight++
    const signal = this.abort.signal
    try {
      const { model } = models[Math.floor(this.components.random() * models.length)]!
      const shape = shapes.draw(model.id)
      // Room for the output it asks for (a real shape fit its own model's context; this one may be smaller).
      const context = model.spec.contextLength
      const room = context - Math.min(shape.maxTokens ?? 16, Math.floor(context / 2))
      const text = await writePrompt(model.id, Math.max(1, Math.min(shape.promptTokens, room - 8)), signal)
      const task = await gateway.prepare(requestOf(shape, text), signal)
      const result = await gateway.run(task, () => {}, signal)
      const settledIn = getEpoch(chain.replica.state)?.number ?? plan.epoch
      this.ownByEpoch.set(settledIn, (this.ownByEpoch.get(settledIn) ?? 0) + 1)
      plan.sent.push(result.taskId)
      log.debug({ taskId: result.taskId, executor: result.executor }, 'synthetic task settled')
    } catch (err) {
      plan.failed++
      if (!signal.aborted) log.warn({ err: (err as Error).message }, 'synthetic task failed')
    } finally {
      this.inFlight--
    }
  }
}

/** The request a client with this shape would send, with `text` as its prompt. */
export function requestOf(shape: RequestShape, text: string): TaskRequest {
  const messages: ChatMessage[] = [{ role: 'user', content: text }]
  return {
    model: shape.model,
    input: shape.chat ? { messages } : { prompt: text },
    ...(shape.maxTokens !== undefined ? { maxTokens: shape.maxTokens } : {}),
    ...(shape.maxCost !== undefined ? { maxCost: shape.maxCost } : {}),
    sampling: shape.sampling,
    stop: shape.stop,
    synthetic: true,
  }
}
