import type { Clock } from '../../util/clock.js'
import { CordexError } from '../../util/errors.js'

export type TaskGateErrorCode = 'FULL' | 'TIMEOUT' | 'ABORTED'

/** A task the gateway did not start: nothing was escrowed for it. */
export class TaskGateError extends CordexError<TaskGateErrorCode> {}

export interface TaskGateOptions {
  /** Requests waiting to start, at most; more are refused at once (FULL). */
  maxWaiting: number
  /** Longest a request waits to start, ms (then TIMEOUT). */
  maxWaitMs: number
}

export const DEFAULT_TASK_GATE: TaskGateOptions = { maxWaiting: 256, maxWaitMs: 30_000 }

/** How much the executors take from this gateway now, summed over the hosts of a model. */
export interface Capacity {
  /** Tasks running at once. */
  running: number
  /** Tasks started per second (also the burst). */
  perSecond: number
}

interface Waiter {
  capacity: Capacity
  since: number
  admit: (leave: () => void) => void
  refuse: (err: TaskGateError) => void
  unlisten: () => void
}

/**
 * Gateway admission: a task starts (and escrows) only while the executors can take it. Executors
 * admit from one peer so many infer streams at once and so many requests per second (SPEC 2);
 * a gateway that sent more would escrow, be refused, refund, and spend three transactions on an
 * error. Requests beyond that wait here, first come first served, bounded in number and time,
 * holding nothing on the chain. Pure apart from the injected clock and timer.
 */
export class TaskGate {
  private running = 0
  /** Start tokens (a bucket refilled at the capacity's rate, holding at most one second's worth). */
  private tokens: number | undefined
  private refilledAt = 0
  private readonly waiting: Waiter[] = []
  private wake: (() => void) | undefined

  constructor(
    private readonly components: {
      clock: Clock
      /** Call `fn` after `ms`; returns a cancel function. */
      setTimer: (fn: () => void, ms: number) => () => void
    },
    private readonly opts: TaskGateOptions = DEFAULT_TASK_GATE,
  ) {}

  /** Tasks running and waiting. */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length }
  }

  /**
   * Wait for room to start one task; resolves with the function to call when it is over. Rejects
   * with TaskGateError (FULL, TIMEOUT, ABORTED).
   */
  enter(capacity: Capacity, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted === true) return Promise.reject(new TaskGateError('ABORTED', 'the client went away'))
    if (this.waiting.length === 0 && this.take(capacity)) return Promise.resolve(this.leaver())
    if (this.waiting.length >= this.opts.maxWaiting)
      return Promise.reject(
        new TaskGateError('FULL', `${this.waiting.length} requests already wait to start`),
      )
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        capacity,
        since: this.components.clock.now(),
        admit: (leave) => {
          w.unlisten()
          resolve(leave)
        },
        refuse: (err) => {
          w.unlisten()
          reject(err)
        },
        unlisten: () => {},
      }
      if (signal !== undefined) {
        const onAbort = (): void => {
          const i = this.waiting.indexOf(w)
          if (i < 0) return
          this.waiting.splice(i, 1)
          w.refuse(new TaskGateError('ABORTED', 'the client went away'))
        }
        signal.addEventListener('abort', onAbort, { once: true })
        w.unlisten = () => signal.removeEventListener('abort', onAbort)
      }
      this.waiting.push(w)
      this.arm()
    })
  }

  /** Admit whom there is room for, in order; refuse whoever waited too long. */
  pump(): void {
    const now = this.components.clock.now()
    while (this.waiting.length > 0 && now - this.waiting[0]!.since >= this.opts.maxWaitMs) {
      this.waiting
        .shift()!
        .refuse(new TaskGateError('TIMEOUT', `no executor had room within ${this.opts.maxWaitMs} ms`))
    }
    while (this.waiting.length > 0 && this.take(this.waiting[0]!.capacity)) {
      this.waiting.shift()!.admit(this.leaver())
    }
    this.arm()
  }

  private take(c: Capacity): boolean {
    if (this.running >= c.running) return false
    const now = this.components.clock.now()
    const burst = Math.max(1, c.perSecond)
    this.tokens = Math.min(burst, (this.tokens ?? burst) + ((now - this.refilledAt) / 1000) * c.perSecond)
    this.refilledAt = now
    if (this.tokens < 1) return false
    this.tokens -= 1
    this.running++
    return true
  }

  private leaver(): () => void {
    let left = false
    return () => {
      if (left) return
      left = true
      this.running--
      this.pump()
    }
  }

  /** While someone waits, look again when its start token is due or its wait is over. */
  private arm(): void {
    this.wake?.()
    this.wake = undefined
    const first = this.waiting[0]
    if (first === undefined) return
    const now = this.components.clock.now()
    let due = first.since + this.opts.maxWaitMs - now
    // Waiting for a running task to end needs no timer: its end looks again.
    if (this.running < first.capacity.running) {
      const perSecond = Math.max(first.capacity.perSecond, 0.001)
      const burst = Math.max(1, perSecond)
      const tokens = Math.min(burst, (this.tokens ?? burst) + ((now - this.refilledAt) / 1000) * perSecond)
      due = Math.min(due, ((1 - tokens) / perSecond) * 1000)
    }
    this.wake = this.components.setTimer(
      () => {
        this.wake = undefined
        this.pump()
      },
      Math.max(1, Math.ceil(due)),
    )
  }
}
