/** A signal that aborts at a deadline or with any of its parents; `clear()` releases its timer. */
export interface Deadline {
  signal: AbortSignal
  /** Stop the timer and forget the parents (call it once the guarded work is over). */
  clear(): void
}

/**
 * An AbortSignal that aborts `ms` from now (reason: a `TimeoutError` DOMException, as
 * `AbortSignal.timeout`'s) or as soon as one of `parents` aborts.
 *
 * Why not `AbortSignal.any([..., AbortSignal.timeout(ms)])`: on Node 20 the composite holds its
 * sources weakly, and a timeout signal that nothing else references is garbage-collected with its
 * timer, so the deadline silently never fires (an `infer` stream that never sent a byte stayed
 * open past every timeout). Here a real timer holds the controller until `clear()`.
 */
export function deadline(ms: number, ...parents: Array<AbortSignal | undefined>): Deadline {
  const ac = new AbortController()
  const timer = setTimeout(
    () => ac.abort(new DOMException(`no answer in ${ms} ms`, 'TimeoutError')),
    Math.max(0, ms),
  )
  const listeners: Array<[AbortSignal, () => void]> = []
  const clear = (): void => {
    clearTimeout(timer)
    for (const [s, l] of listeners.splice(0)) s.removeEventListener('abort', l)
  }
  for (const parent of parents) {
    if (parent === undefined) continue
    if (parent.aborted) {
      ac.abort(parent.reason)
      break
    }
    const onAbort = (): void => ac.abort(parent.reason)
    parent.addEventListener('abort', onAbort, { once: true })
    listeners.push([parent, onAbort])
  }
  if (ac.signal.aborted) clear()
  else ac.signal.addEventListener('abort', clear, { once: true })
  return { signal: ac.signal, clear }
}
