import assert from 'node:assert/strict'
import { appendFileSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { CordexError } from '../../src/util/errors.js'
import { Rng } from './gen.js'

// What every fuzz target shares: the budget and seed (from the environment, printed), a tally of
// inputs and failures that keeps the smallest input of each kind of failure, memory probes, and a
// shrinker for byte inputs.

/** The inputs each kind of target runs in `npm test` when CORDEX_FUZZ_INPUTS is not set. */
const SHORT: Record<TargetKind, number> = { decoder: 1500, gossip: 800, protocol: 250, http: 300 }

export type TargetKind = 'decoder' | 'gossip' | 'protocol' | 'http'

/** The seed every target derives its generator from: CORDEX_FUZZ_SEED, or a fixed default. */
export const SEED = process.env.CORDEX_FUZZ_SEED ?? 'cordex-fuzz-1'

/** Inputs per target: CORDEX_FUZZ_INPUTS for every target (the long run), or the short defaults. */
export function budget(kind: TargetKind): number {
  const env = process.env.CORDEX_FUZZ_INPUTS
  if (env === undefined || env === '') return SHORT[kind]
  const n = Number(env)
  if (!Number.isSafeInteger(n) || n < 1)
    throw new Error(`CORDEX_FUZZ_INPUTS=${env}: expected a positive integer`)
  return n
}

/** True when running the long budget (a test then may take as long as it needs). */
export function longRun(): boolean {
  const n = Number(process.env.CORDEX_FUZZ_INPUTS ?? 0)
  return n > Math.max(...Object.values(SHORT))
}

/** A node:test timeout for a target: the runner's default in the short run, none in the long one. */
export function testTimeout(): number | undefined {
  return longRun() ? Infinity : undefined
}

/** The generator of one target: the same seed and target name give the same inputs. */
export function rngFor(target: string): Rng {
  return new Rng(`${SEED}/${target}`)
}

/** The error a typed-error check accepts: Cordex's own, with a code. */
export function isTyped(err: unknown): err is CordexError {
  return err instanceof CordexError && typeof err.code === 'string' && err.code.length > 0
}

/** A short name for a thrown value: `CodecError:MALFORMED`, `untyped TypeError`. */
export function errorKind(err: unknown): string {
  if (isTyped(err)) return `${err.constructor.name}:${err.code}`
  if (err instanceof Error) return `untyped ${err.name}`
  return `non-error ${typeof err}`
}

interface Failure {
  count: number
  /** The smallest input seen with this failure, as shown to people. */
  example: string
  size: number
  detail: string
  /** The input itself (bytes) when the target can shrink it. */
  bytes?: Uint8Array
}

/** Inputs, failures by kind (with the smallest example of each), and state changes of one target. */
export class Tally {
  inputs = 0
  stateChanges = 0
  readonly failures = new Map<string, Failure>()
  /** Facts for the report: e.g. how many inputs were accepted, rejected or ignored. */
  readonly counts = new Map<string, number>()

  constructor(readonly target: string) {}

  count(what: string, n = 1): void {
    this.counts.set(what, (this.counts.get(what) ?? 0) + n)
  }

  /** Record a failure of kind `kind`; `input` is kept when it is the smallest seen of that kind. */
  fail(kind: string, input: Uint8Array | string, detail: string): void {
    const size = input.length
    const f = this.failures.get(kind)
    const shown = typeof input === 'string' ? show(input) : hex(input)
    if (f === undefined) {
      this.failures.set(kind, {
        count: 1,
        example: shown,
        size,
        detail,
        bytes: typeof input === 'string' ? undefined : input,
      })
      return
    }
    f.count++
    if (size < f.size) {
      Object.assign(f, { example: shown, size, detail })
      f.bytes = typeof input === 'string' ? undefined : input
    }
  }

  stateChange(kind: string, input: Uint8Array | string, detail: string): void {
    this.stateChanges++
    this.fail(`state change: ${kind}`, input, detail)
  }

  get failureCount(): number {
    let n = 0
    for (const f of this.failures.values()) n += f.count
    return n
  }

  /**
   * Shrink the stored example of each failure with `check` (the kind of failure an input has, and
   * its detail, or undefined), so that the report shows a small input that fails the same way.
   */
  async shrink(
    check: (b: Uint8Array) => Promise<[string, string] | undefined>,
    maxTries = 3000,
    maxMs = 2000,
  ): Promise<void> {
    for (const [kind, f] of this.failures) {
      if (f.bytes === undefined) continue
      let detail = f.detail
      const small = await shrinkBytes(
        f.bytes,
        async (b) => {
          const bad = await check(b)
          if (bad === undefined || bad[0] !== kind) return false
          detail = bad[1]
          return true
        },
        maxTries,
        maxMs,
      )
      if (small.length < f.bytes.length)
        Object.assign(f, { bytes: small, size: small.length, example: hex(small), detail })
    }
  }

  /** One line per failure kind, for the report and the assertion message. */
  lines(): string[] {
    return [...this.failures].map(
      ([kind, f]) =>
        `${this.target}: ${kind} ×${f.count}; smallest input (${f.size} bytes) ${f.example} → ${f.detail}`,
    )
  }
}

/** Up to 96 bytes of hex, with the total length. */
export function hex(b: Uint8Array): string {
  const h = Buffer.from(b.subarray(0, 96)).toString('hex')
  return b.length > 96 ? `${h}…(+${b.length - 96})` : h || '(empty)'
}

/** A string input, JSON-quoted and cut at 300 characters. */
export function show(s: string): string {
  const q = JSON.stringify(s.length > 300 ? s.slice(0, 300) : s)
  return s.length > 300 ? `${q}…(+${s.length - 300} chars)` : q
}

/**
 * Remove chunks of halving size while `fails` stays true; at most `maxTries` calls of `fails`,
 * and no new one after `maxMs` (some failures, a stack overflow, are slow to reproduce).
 */
export async function shrinkBytes(
  input: Uint8Array,
  fails: (b: Uint8Array) => Promise<boolean>,
  maxTries = 3000,
  maxMs = 2000,
): Promise<Uint8Array> {
  let best = input
  let tries = 0
  const deadline = performance.now() + maxMs
  const more = (): boolean => tries < maxTries && performance.now() < deadline
  for (let chunk = Math.max(1, best.length >> 1); chunk >= 1 && more(); chunk >>= 1) {
    for (let at = 0; at < best.length && more();) {
      const cand = new Uint8Array(best.length - Math.min(chunk, best.length - at))
      cand.set(best.subarray(0, at))
      cand.set(best.subarray(at + chunk), at)
      tries++
      if (await fails(cand)) best = cand
      else at += chunk
    }
  }
  return best
}

let gcFn: (() => void) | undefined

/** Run a full garbage collection (exposing it the first time if the process was started without --expose-gc). */
export function gc(): void {
  if (gcFn === undefined) {
    const g = (globalThis as { gc?: () => void }).gc
    if (typeof g === 'function') gcFn = g
    else {
      setFlagsFromString('--expose-gc')
      gcFn = runInNewContext('gc') as () => void
    }
  }
  gcFn()
  gcFn()
}

export interface MemorySample {
  heapUsed: number
  rss: number
}

/** Heap and RSS of this process, after a full collection. */
export function memory(): MemorySample {
  gc()
  const m = process.memoryUsage()
  return { heapUsed: m.heapUsed, rss: m.rss }
}

/** Tracks the peak RSS while a target runs (sampled by `sample()`, cheap to call often). */
export class MemoryWatch {
  readonly before: MemorySample
  peakRss: number

  constructor() {
    this.before = memory()
    this.peakRss = this.before.rss
  }

  sample(): void {
    const rss = process.memoryUsage.rss()
    if (rss > this.peakRss) this.peakRss = rss
  }

  /** Heap growth after a full collection, and the peak RSS, in bytes. */
  finish(): { heapGrowth: number; rssGrowth: number; peakRss: number; after: MemorySample } {
    this.sample()
    const after = memory()
    return {
      heapGrowth: after.heapUsed - this.before.heapUsed,
      rssGrowth: after.rss - this.before.rss,
      peakRss: this.peakRss,
      after,
    }
  }
}

export const MiB = 1024 * 1024

export function mib(n: number): string {
  return `${(n / MiB).toFixed(1)} MiB`
}

/** The report line of one target, for `t.diagnostic`. */
export function reportLine(tally: Tally, mem?: { heapGrowth: number; peakRss: number }, extra = ''): string {
  const counts = [...tally.counts].map(([k, v]) => `${k} ${v}`).join(', ')
  const m = mem === undefined ? '' : `, heap growth ${mib(mem.heapGrowth)}, peak RSS ${mib(mem.peakRss)}`
  return (
    `fuzz ${tally.target} [seed ${SEED}]: ${tally.inputs} inputs, ${tally.failureCount} failures ` +
    `(${tally.failures.size} kinds), ${tally.stateChanges} state changes${m}` +
    (counts === '' ? '' : `; ${counts}`) +
    (extra === '' ? '' : `; ${extra}`)
  )
}

/**
 * Report a target: its line and one line per failure kind as test diagnostics, and a JSON line in
 * the file named by CORDEX_FUZZ_REPORT (scripts/test.mjs sums those up after a fuzz run).
 */
export function report(
  t: { diagnostic(s: string): void },
  tally: Tally,
  mem?: { heapGrowth: number; peakRss: number },
  extra = '',
): void {
  t.diagnostic(reportLine(tally, mem, extra))
  for (const line of tally.lines()) t.diagnostic(line)
  const file = process.env.CORDEX_FUZZ_REPORT
  if (file === undefined || file === '') return
  const row = {
    target: tally.target,
    seed: SEED,
    inputs: tally.inputs,
    failures: tally.failureCount,
    kinds: [...tally.failures.keys()],
    stateChanges: tally.stateChanges,
    heapGrowth: mem?.heapGrowth ?? null,
    peakRss: mem?.peakRss ?? null,
    extra,
  }
  appendFileSync(file, `${JSON.stringify(row)}\n`)
}

/** Fail the test with every failure kind and its smallest input. */
export function assertClean(tally: Tally): void {
  assert.equal(
    tally.failures.size,
    0,
    `${tally.failureCount} failing inputs in ${tally.target} (seed ${SEED}):\n  ${tally.lines().join('\n  ')}`,
  )
}

/** Fail when the heap grew by more than `limit` bytes after a full collection. */
export function assertBounded(target: string, growth: number, limit: number): void {
  assert.ok(
    growth <= limit,
    `${target}: heap grew by ${mib(growth)} (limit ${mib(limit)}) after a full collection`,
  )
}

/** Resolve after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/** Run `fn` over `items` with at most `limit` running at once. */
export async function pool<T>(
  items: Iterable<T>,
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  const it = items[Symbol.iterator]()
  const worker = async (): Promise<void> => {
    for (let n = it.next(); n.done !== true; n = it.next()) await fn(n.value)
  }
  await Promise.all(Array.from({ length: limit }, worker))
}
