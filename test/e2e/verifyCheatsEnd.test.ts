import { test } from 'node:test'
import assert from 'node:assert/strict'
import { convictOne, round, useVerifyDevnet } from '../helpers/verifyDevnet.js'

// Verification on a devnet of 5 daemons (test/helpers/verifyDevnet.ts): truncated answers, ignored
// sampling settings and withheld task records are convicted with the penalties the rules give.

useVerifyDevnet({ mode: 'truncate' })

test('a host truncating its answers or ignoring the sampling settings is convicted', async () => {
  // Greedy from these prompts runs past 40 tokens, so stopping at 20 is a truncation.
  const { c, t } = await convictOne({ temperature: 0, max_tokens: 40 })
  assert.ok(c.usage.completion_tokens <= 20)
  assert.equal(t.chain!.votes.find((v) => !v.ok)!.reason, 'end', 'a truncation fails at its end')
  await round({ mode: 'ignoreSampling' }, { temperature: 1, max_tokens: 24 }, 1)
})

test('a host that serves no records is convicted when no one else has them', async () => {
  // Peer 3 as its own gateway: then nobody else holds the record.
  const { t } = await round({ mode: 'noRecords' }, { temperature: 0, max_tokens: 16 }, 3)
  assert.ok(t.chain!.votes.filter((v) => !v.ok).every((v) => v.reason === 'record'))
})
