// Runs the compiled tests with Node's built-in runner in one run, so that CI reads one summary
// (tests / pass / fail). Files run one at a time: the e2e tests start real daemon processes, and
// two of them at once would compete for the machine's two cores.
// `node scripts/test.mjs unit|sim|e2e` runs one suite: unit (pure logic), sim (real libp2p nodes
// in one process), e2e (real daemon processes).
import { readdirSync, statSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'

const SUITES = ['unit', 'sim', 'e2e']
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

const files = (only === undefined ? SUITES : [only]).flatMap((s) => find(join('dist', 'test', s)))
const r = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=1', '--test-timeout=300000', '--test-reporter=spec', ...files],
  { stdio: 'inherit' },
)
process.exit(r.status ?? 1)
