// Runs the compiled tests with Node's built-in runner and prints one summary of all of them (tests /
// pass / fail) at the end. The unit, sim and fuzz files run two at a time (they use one core each,
// and the machine has two); the e2e files run one at a time, after them: they start real daemon
// processes, and two of them at once would compete for the machine's two cores.
// `node scripts/test.mjs unit|sim|e2e|fuzz` runs one suite: unit (pure logic), sim (real libp2p nodes
// in one process), e2e (real daemon processes), fuzz (generated input against every decoder,
// gossip validator, protocol handler and HTTP route; a short budget unless CORDEX_FUZZ_INPUTS says
// how many inputs per target, as `npm run fuzz` does). After a run with fuzz targets, a summary of
// them is printed: inputs, failures, state changes, memory.
import { readdirSync, statSync, existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { spawnSync } from 'node:child_process'

const SUITES = ['unit', 'sim', 'e2e', 'fuzz']
const only = process.argv[2]
if (only !== undefined && !SUITES.includes(only)) {
  console.error(`unknown suite ${only}; use one of ${SUITES.join(', ')}`)
  process.exit(2)
}

function find(dir) {
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const p = join(dir, name)
      if (statSync(p).isDirectory()) return find(p)
      return name.endsWith('.test.js') ? [p] : []
    })
}

const chosen = only === undefined ? SUITES : [only]
const filesOf = (suites) => suites.flatMap((s) => find(join('dist', 'test', s)))
const runs = [
  { files: filesOf(chosen.filter((s) => s !== 'e2e')), concurrency: 2 },
  { files: filesOf(chosen.filter((s) => s === 'e2e')), concurrency: 1 },
].filter((r) => r.files.length > 0)
const reportFile = join(tmpdir(), `cordex-fuzz-report-${process.pid}.jsonl`)
const counts = { tests: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 }
let status = 0
for (const [i, run] of runs.entries()) {
  // A TAP copy of the run's report beside the spec reporter's, for the summary's counts.
  const tap = join(tmpdir(), `cordex-test-${process.pid}-${i}.tap`)
  const r = spawnSync(
    process.execPath,
    [
      '--test',
      `--test-concurrency=${run.concurrency}`,
      '--test-timeout=300000',
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      '--test-reporter=tap',
      `--test-reporter-destination=${tap}`,
      ...run.files,
    ],
    { stdio: 'inherit', env: { ...process.env, CORDEX_FUZZ_REPORT: reportFile } },
  )
  if (r.status !== 0) status = r.status ?? 1
  if (existsSync(tap)) {
    for (const m of readFileSync(tap, 'utf8').matchAll(
      /^# (tests|pass|fail|cancelled|skipped|todo) (\d+)$/gm,
    ))
      counts[m[1]] += Number(m[2])
    rmSync(tap, { force: true })
  }
}
fuzzSummary(reportFile)
if (runs.length > 1)
  console.log(
    `\nall suites: ${Object.entries(counts)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')}`,
  )
process.exit(status)

/** One line per fuzz target that ran, and the totals. */
function fuzzSummary(file) {
  if (!existsSync(file)) return
  const rows = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l))
  rmSync(file, { force: true })
  if (rows.length === 0) return
  const mib = (n) => (n === null ? '-' : `${(n / 1048576).toFixed(1)} MiB`)
  console.log(
    `\nfuzz summary (seed ${rows[0].seed}, CORDEX_FUZZ_INPUTS=${process.env.CORDEX_FUZZ_INPUTS ?? 'short default'})`,
  )
  console.log(
    'target'.padEnd(34),
    'inputs'.padStart(8),
    'failures'.padStart(9),
    'state'.padStart(6),
    'heap +'.padStart(11),
    'peak RSS'.padStart(11),
  )
  for (const x of rows) {
    console.log(
      x.target.padEnd(34),
      String(x.inputs).padStart(8),
      String(x.failures).padStart(9),
      String(x.stateChanges).padStart(6),
      mib(x.heapGrowth).padStart(11),
      mib(x.peakRss).padStart(11),
      x.extra === '' ? '' : ` ${x.extra}`,
    )
    for (const k of x.kinds) console.log(`    ${k}`)
  }
  const sum = (k) => rows.reduce((n, x) => n + x[k], 0)
  const heap = Math.max(...rows.map((x) => x.heapGrowth ?? 0))
  console.log(
    `fuzz total: ${rows.length} targets, ${sum('inputs')} inputs, ${sum('failures')} failures, ` +
      `${sum('stateChanges')} state changes, largest heap growth ${mib(heap)}`,
  )
}
