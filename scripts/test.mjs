// Runs the compiled tests with Node's built-in runner. The whole run has two lanes side by side:
// the devnet e2e files one at a time (each starts several daemon processes, and two devnets at once
// would compete for the machine's two cores), and beside them, one file at a time, the in-process
// suites (unit, sim, fuzz) and the e2e files that start one daemon at a time. The devnet lane's
// report streams; the other lane's is printed when it ends; one summary closes the run.
// `node scripts/test.mjs unit|sim|e2e|fuzz` runs one suite alone: unit (pure logic), sim (real
// libp2p nodes in one process), e2e (real daemon processes), fuzz (generated input against every
// decoder, gossip validator, protocol handler and HTTP route; a short budget unless
// CORDEX_FUZZ_INPUTS says how many inputs per target, as `npm run fuzz` does). After a run with
// fuzz targets, a summary of them is printed: inputs, failures, state changes, memory.
import { readdirSync, statSync, existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { spawn } from 'node:child_process'

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

const filesOf = (suites) => suites.flatMap((s) => find(join('dist', 'test', s)))
/**
 * e2e files that start one daemon at a time (no devnet, no Race): light enough to run in the
 * in-process lane, beside the devnets.
 */
const SINGLE_DAEMON_E2E = ['apiHardening', 'controlSocket', 'crash', 'lifecycle', 'restart', 'taskProtocol']
const single = (f) => SINGLE_DAEMON_E2E.some((name) => f.endsWith(`${name}.test.js`))
const reportFile = join(tmpdir(), `cordex-fuzz-report-${process.pid}.jsonl`)
const env = { ...process.env, CORDEX_FUZZ_REPORT: reportFile }

/** One `node --test` over `files`, one file at a time, its report streamed to `out` when given; resolves to its exit status and report. */
function lane(files, out) {
  return new Promise((resolve) => {
    if (files.length === 0) return resolve({ status: 0, text: '' })
    const child = spawn(
      process.execPath,
      ['--test', '--test-concurrency=1', '--test-timeout=300000', '--test-reporter=spec', ...files],
      { stdio: ['ignore', 'pipe', 'pipe'], env },
    )
    let text = ''
    const take = (chunk) => {
      text += chunk
      out?.write(chunk)
    }
    child.stdout.on('data', take)
    child.stderr.on('data', take)
    child.on('close', (code) => resolve({ status: code ?? 1, text }))
  })
}

let status
if (only !== undefined) {
  status = (await lane(filesOf([only]), process.stdout)).status
} else {
  const e2eFiles = filesOf(['e2e'])
  const [e2e, inProcess] = await Promise.all([
    lane(
      e2eFiles.filter((f) => !single(f)),
      process.stdout,
    ),
    lane([...filesOf(['unit', 'sim', 'fuzz']), ...e2eFiles.filter(single)], null),
  ])
  process.stdout.write(
    `\n--- unit, sim, fuzz and the single-daemon e2e files (run beside the devnets) ---\n${inProcess.text}`,
  )
  const keys = ['tests', 'pass', 'fail', 'cancelled', 'skipped', 'todo']
  const total = (k) => closing(e2e.text, k) + closing(inProcess.text, k)
  process.stdout.write(`\nwhole run: ${keys.map((k) => `${k} ${total(k)}`).join(', ')}\n`)
  status = e2e.status !== 0 ? e2e.status : inProcess.status
}
fuzzSummary(reportFile)
process.exit(status)

/** The value of the runner's closing `ℹ <key> <n>` line in a report. */
function closing(text, key) {
  const m = new RegExp(`^ℹ ${key} (\\d+)$`, 'm').exec(text)
  return m === null ? 0 : Number(m[1])
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
