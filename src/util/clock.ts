/** Injected time source, so that logic that depends on time can be driven by tests. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }

/**
 * Run `fn` after `ms` without keeping the process alive for it (an unref'd timer); returns the
 * cancel. What services take as an injected `setTimer`.
 */
export function unrefTimer(fn: () => void, ms: number): () => void {
  const t = setTimeout(fn, ms)
  t.unref()
  return () => clearTimeout(t)
}
