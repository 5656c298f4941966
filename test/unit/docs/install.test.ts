import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../../helpers/cli.js'

// `npm install` on a fresh clone prints no warning that names the project's own configuration
// (issue 14, item 3), and still skips onnxruntime-node's CUDA download. A whole install takes a
// minute; what decides both is read here: npm's own reading of the project's .npmrc, and the
// install-script policy in package.json.

test('npm reads the project configuration without a warning', () => {
  const r = spawnSync('npm', ['config', 'list'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 })
  assert.equal(r.status, 0, r.stderr)
  const warnings = r.stderr.split('\n').filter((l) => /warn/i.test(l))
  assert.deepEqual(
    warnings.filter((l) => /config|\.npmrc|package\.json/i.test(l)),
    [],
    'npm warns about the project configuration',
  )
  assert.match(r.stdout, /"project" config from .*\.npmrc/, 'npm read the project .npmrc')
})

test('package.json denies onnxruntime-node its install script (the CUDA download) and allows the rest', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    allowScripts?: Record<string, boolean>
  }
  assert.equal(pkg.allowScripts?.['onnxruntime-node'], false)
  // The CPU library the engine loads ships inside the package, install script or not.
  const ort = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', "import ort from 'onnxruntime-node'; console.log(ort.env.versions.node)"],
    { cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
  )
  assert.equal(ort.status, 0, ort.stderr)
  assert.match(ort.stdout, /^\d+\.\d+\.\d+/)
})
