import type { Logger } from '../../util/logger.js'
import type { BatchLine } from './jsonl.js'

/** What one request of a batch came to, as the single-request endpoint would have answered it. */
export type LineOutcome =
  | { ok: true; status: number; body: unknown; taskId: string }
  | { ok: false; status: number; code: string; message: string }

/**
 * Run one request as an ordinary task (src/node/batch/execute.ts does it through the gateway);
 * resolves with the answer or the refusal, never rejects for a refusal.
 */
export type ExecuteLine = (line: BatchLine, signal: AbortSignal) => Promise<LineOutcome>

export interface LineRunnerOptions {
  /** Lines in flight at once, over every batch of this daemon. */
  concurrency: number
  /** Times a line refused as busy (`gateway_busy`, `no_executor`) is tried again before it fails. */
  maxRetries: number
  /** Wait before the first retry, ms; it doubles with each retry, up to `retryMaxMs`. */
  retryBaseMs: number
  retryMaxMs: number
}

/** Refusals that mean "no room or no host now", not "this request is wrong": worth a retry. */
export function retryable(o: LineOutcome): boolean {
  return !o.ok && o.status === 503 && (o.code === 'gateway_busy' || o.code === 'no_executor')
}

/**
 * Runs batch lines in a bounded number of slots, retrying busy refusals with exponential backoff
 * (timers injected). A line keeps its slot while it waits to retry, so a saturated gateway slows
 * the batch down rather than filling up with waiting lines.
 */
export class LineRunner {
  private running = 0

  constructor(
    private readonly components: {
      execute: ExecuteLine
      /** Run `fn` after `ms`; returns the cancel. */
      setTimer: (fn: () => void, ms: number) => () => void
      log: Logger
    },
    private readonly opts: LineRunnerOptions,
  ) {}

  /** Slots free now. */
  get free(): number {
    return this.opts.concurrency - this.running
  }

  /**
   * Run `line` in a slot (the caller checks `free` first). Resolves with its outcome; null when
   * `signal` stopped it before it had an answer (a task that finished anyway is still returned, so
   * that it is recorded rather than run again).
   */
  async run(line: BatchLine, signal: AbortSignal): Promise<LineOutcome | null> {
    this.running++
    try {
      for (let attempt = 0; ; attempt++) {
        if (signal.aborted) return null
        let outcome: LineOutcome
        try {
          outcome = await this.components.execute(line, signal)
        } catch (err) {
          this.components.log.error({ err, customId: line.customId }, 'a batch line failed unexpectedly')
          outcome = {
            ok: false,
            status: 500,
            code: 'internal_error',
            message: 'the gateway could not run it',
          }
        }
        if (outcome.ok) return outcome
        if (signal.aborted) return null
        if (!retryable(outcome) || attempt >= this.opts.maxRetries) return outcome
        const wait = Math.min(this.opts.retryMaxMs, this.opts.retryBaseMs * 2 ** attempt)
        this.components.log.debug(
          { customId: line.customId, code: outcome.code, wait },
          'batch line busy: retrying',
        )
        await this.sleep(wait, signal)
      }
    } finally {
      this.running--
    }
  }

  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let cancel = (): void => {}
      const done = (): void => {
        cancel()
        signal.removeEventListener('abort', done)
        resolve()
      }
      cancel = this.components.setTimer(done, ms)
      signal.addEventListener('abort', done, { once: true })
    })
  }
}
