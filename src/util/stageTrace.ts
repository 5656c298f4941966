import type { Logger } from './logger.js'

/**
 * One stage of a task's way through gateway and executor, logged at level `trace` (nothing is
 * done at any other level): `{ task, stage, at }`, `at` being wall-clock milliseconds with the
 * microseconds of `performance.now()`, comparable across the processes of one machine.
 * `npm run bench:infer -- stages` lines them up (docs/inference.md, "Where a request's time goes").
 */
export function traceStage(log: Logger, task: Uint8Array | string, stage: string): void {
  if (!log.isLevelEnabled('trace')) return
  const at = performance.timeOrigin + performance.now()
  log.trace(
    { task: typeof task === 'string' ? task : Buffer.from(task).toString('hex'), stage, at },
    'task stage',
  )
}
