import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { loadManifest } from '../../src/engine/index.js'
import { ROOT, waitFor } from '../helpers/cli.js'
import { convictOne, honest, round, task, useVerifyDevnet, type TaskView } from '../helpers/verifyDevnet.js'

// Issue 13, item 6: int8 tasks on a devnet of 5 daemons (test/helpers/verifyDevnet.ts) that all
// host kjv-small-int8. Each task's receipt signs the root of the executor's commitment to its
// integer products; verifiers audit it (Freivalds on every product at 16 shared positions, the
// float glue between products, the tokens against the committed logits) instead of replaying it.
// Honest tasks pass; a corrupted product, a block fed another block's input, and the float
// model's output under the int8 model's name are each convicted, with the penalties the rules give
// (`convictOne` recomputes them), on the evidence the audit names.

const dir = join(ROOT, 'models', 'kjv-small-int8')
const { id } = await loadManifest(dir)
useVerifyDevnet(
  { mode: 'corruptProduct' },
  { model: { dir: 'models/kjv-small-int8', id, unitsPerToken: 7499 } },
)

/** The reasons the accusing verifiers gave. */
const reasons = (t: TaskView): string[] => t.chain!.votes.filter((v) => !v.ok).map((v) => v.reason)

test('a host committing a corrupted product is convicted on Freivalds’ check', async () => {
  const { t } = await convictOne({ temperature: 0.8, max_tokens: 12 })
  assert.ok(
    reasons(t).every((r) => r === 'product'),
    `evidence: ${reasons(t).join(', ')}`,
  )
})

test('a host whose block 2 is fed block 1’s input is convicted on the chain check', async () => {
  const { t } = await round({ mode: 'skipLayer' }, { temperature: 0, max_tokens: 12 })
  assert.ok(
    reasons(t).every((r) => r === 'chain'),
    `evidence: ${reasons(t).join(', ')}`,
  )
})

test('a host serving the float model’s output under the int8 model is convicted on its tokens', async () => {
  // "And when": the float and the int8 models' greedy outputs part at the 7th token (the engine
  // test test/unit/engine/audit.test.ts finds it); 2 prompt tokens + 12 − 1 = 13 positions, all
  // opened, so the audit sees where they part.
  const { t } = await round(
    { mode: 'substituteModel' },
    { temperature: 0, max_tokens: 12, prompt: 'And when' },
  )
  assert.ok(
    reasons(t).every((r) => r === 'token'),
    `evidence: ${reasons(t).join(', ')}`,
  )
})

test('the honest hosts’ int8 tasks of the run were audited and passed', async (t) => {
  // The tasks drawn to honest hosts while the rounds looked for the cheater's: at check rate 1,
  // most are audited (a task goes unchecked with chance about e^-1), each within the epoch after
  // its own; on a loaded machine the audits may still be coming in.
  const votes = await waitFor(
    'an audit of an honest int8 task',
    async () => {
      const all = (await Promise.all(honest.map((id) => task(0, id)))).flatMap((v) => v.chain?.votes ?? [])
      return all.length > 0 ? all : undefined
    },
    120_000,
  ).catch(() => [])
  t.diagnostic(`${honest.length} honest tasks, ${votes.length} audits`)
  assert.deepEqual(
    votes.filter((v) => !v.ok),
    [],
    'no audit of an honest int8 task failed',
  )
  assert.ok(votes.length > 0, 'honest int8 tasks were audited')
})
