// Runs the compiled test suites with Node's built-in runner: unit tests in parallel, then the
// in-process network simulations, then the end-to-end tests (real daemon processes) one file at a time. `node scripts/test.mjs unit|sim|e2e`
// runs one suite. The runner's closing summary (tests / pass / fail) is what CI reads.
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'

const suites = { unit: { concurrency: 2 }, sim: { concurrency: 1 }, e2e: { concurrency: 1 } }
const only = process.argv[2]
if (only !== undefined && !(only in suites)) {
  console.error(`unknown suite ${only}; use one of ${Object.keys(suites).join(', ')}`)
  process.exit(2)
}

function find(dir) {
  let out = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out = out.concat(find(p))
    else if (name.endsWith('.test.js')) out.push(p)
  }
  return out.sort()
}

let failed = false
for (const [suite, { concurrency }] of Object.entries(suites)) {
  if (only !== undefined && only !== suite) continue
  const files = find(join('dist', 'test', suite))
  console.log(`\n== ${suite}: ${files.length} files`)
  const r = spawnSync(
    process.execPath,
    ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
    { stdio: 'inherit' },
  )
  if (r.status !== 0) failed = true
}
process.exit(failed ? 1 : 0)
