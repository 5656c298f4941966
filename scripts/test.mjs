// Runs the compiled tests with Node's built-in runner and prints one summary of all of them (tests /
// pass / fail) at the end. The unit, sim and fuzz files run two at a time (they use one core each,
// and the machine has two); then the e2e files, also two at a time: they start real daemon
// processes that mostly wait on the chain's timers (blocks, Races, epochs), so two files keep the
// machine busy without either starving (each must pass on a loaded machine anyway). An e2e file
// that fails is run once more, alone: the summary names it, with its first failure's tests, as
// flaky when it passes then, and the run fails only when it fails again. (Several daemons on two
// loaded cores miss a deadline now and then; each such miss found so far was a fix to make, so a
// flaky file is reported, not hidden.)
// `node scripts/test.mjs unit|sim|e2e|fuzz` runs one suite: unit (pure logic), sim (real libp2p nodes
// in one process), e2e (real daemon processes), fuzz (generated input against every decoder,
// gossip validator, protocol handler and HTTP route; a short budget unless CORDEX_FUZZ_INPUTS says
// how many inputs per target, as `npm run fuzz` does). After a run with fuzz targets, a summary of
// them is printed: inputs, failures, state changes, memory.
import { readdirSync, statSync, existsSync, readFileSync, rmSync } from 'node:fs'
import { join, relative } from 'node:path'
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
  { files: filesOf(chosen.filter((s) => s !== 'e2e')), concurrency: 2, again: false },
  { files: filesOf(chosen.filter((s) => s === 'e2e')), concurrency: 2, again: true },
].filter((r) => r.files.length > 0)
const reportFile = join(tmpdir(), `cordex-fuzz-report-${process.pid}.jsonl`)
const counts = { tests: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 }
/** e2e files that failed, then passed when run again: file -> the tests that failed first. */
const flaky = new Map()
const failedAgain = []
let status = 0
for (const [i, run] of runs.entries()) {
  let r = runFiles(run.files, run.concurrency, `${i}`, counts)
  if (r.status !== 0 && run.again && r.failed.size > 0) {
    for (const [file, tests] of r.failed) {
      console.log(`\n${file} failed (${tests.join('; ')}): running it once more`)
      const again = runFiles([file], 1, `${i}-again`, null)
      if (again.status === 0) flaky.set(file, tests)
      else failedAgain.push(file)
    }
    if (failedAgain.length === 0) r = { status: 0 }
  }
  if (r.status !== 0) status = r.status ?? 1
}
fuzzSummary(reportFile)
if (runs.length > 1)
  console.log(
    `\nall suites: ${Object.entries(counts)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')}`,
  )
if (flaky.size > 0) {
  console.log(`\nflaky: ${flaky.size} e2e file(s) failed, then passed when run again:`)
  for (const [file, tests] of flaky) console.log(`  ${file}: ${tests.join('; ')}`)
}
if (failedAgain.length > 0) console.log(`\nfailed twice: ${failedAgain.join(', ')}`)
process.exit(status)

/**
 * Run `files` with Node's test runner (spec report on stdout), adding the run's totals to `into`
 * (unless null). Returns the exit status and the files with a failed test, with those tests' names.
 */
function runFiles(files, concurrency, tag, into) {
  // A TAP copy of the run's report beside the spec reporter's, for the counts and failed files.
  const tap = join(tmpdir(), `cordex-test-${process.pid}-${tag}.tap`)
  const r = spawnSync(
    process.execPath,
    [
      '--test',
      `--test-concurrency=${concurrency}`,
      '--test-timeout=300000',
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      '--test-reporter=tap',
      `--test-reporter-destination=${tap}`,
      ...files,
    ],
    { stdio: 'inherit', env: { ...process.env, CORDEX_FUZZ_REPORT: reportFile } },
  )
  const failed = new Map()
  if (existsSync(tap)) {
    const text = readFileSync(tap, 'utf8')
    if (into !== null)
      for (const m of text.matchAll(/^# (tests|pass|fail|cancelled|skipped|todo) (\d+)$/gm))
        into[m[1]] += Number(m[2])
    // A top-level failure and its location: a test's line, or a file's own (a timeout, a hook).
    for (const m of text.matchAll(
      /^not ok \d+ - (.*)\n(?: {2}.*\n)*? {2}location: '(.*?\.test\.js):\d+:\d+'$/gm,
    )) {
      const file = relative(process.cwd(), m[2])
      failed.set(file, [...(failed.get(file) ?? []), m[1]])
    }
    rmSync(tap, { force: true })
  }
  return { status: r.status, failed }
}

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
