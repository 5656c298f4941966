/**
 * With `CORDEX_EXIT_WITH_PARENT=1` in the environment (the test helpers set it), call `onOrphan`
 * once when the process that started this one is gone (this one is reparented), checking every
 * `everyMs`. A test run that is killed mid-file then leaves no daemon behind. Returns a stop
 * function; a no-op without the variable.
 */
export function exitWithParent(onOrphan: () => void, everyMs = 1000): () => void {
  if (process.env.CORDEX_EXIT_WITH_PARENT !== '1') return () => {}
  const parent = process.ppid
  const timer = setInterval(() => {
    if (process.ppid === parent) return
    clearInterval(timer)
    onOrphan()
  }, everyMs)
  timer.unref()
  return () => clearInterval(timer)
}
