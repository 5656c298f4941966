import { test } from 'node:test'
import assert from 'node:assert/strict'
import { cordex } from '../helpers/cli.js'
import { STAKE, account, convictOne, dataDir, round, useVerifyDevnet } from '../helpers/verifyDevnet.js'

// Verification on a devnet of 5 daemons (test/helpers/verifyDevnet.ts): an executor that returns
// wrong tokens, or serves a substitute model, is convicted with the penalties the rules give.

useVerifyDevnet({ mode: 'wrongTokens', rate: 0.5 })

test('a host returning wrong tokens is caught, convicted and penalized as the rules say; cordex task shows the verdicts', async () => {
  assert.equal((await account(3)).stake, STAKE)
  const { c, t } = await convictOne({ temperature: 0.8, max_tokens: 24 })
  assert.equal(c.cordex.verification, 'pending', 'the openai package sees the verification field')
  const evidence = t.chain!.votes.find((v) => !v.ok)!
  assert.equal(evidence.reason, 'token', 'the evidence names the first wrong token')
  assert.notEqual(evidence.expected, evidence.actual)
  const shown = await cordex(['task', c.cordex.task_id, '--data-dir', dataDir(0)])
  assert.equal(shown.code, 0, shown.stderr)
  assert.match(shown.stdout, /fraud/)
  assert.match(shown.stdout, new RegExp(evidence.verifier))
})

test('a host serving a substitute model is convicted', async () => {
  await round({ mode: 'substituteModel' }, { temperature: 0, max_tokens: 24 })
})
