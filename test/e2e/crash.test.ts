import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Level } from 'level'
import { ChainStore } from '../../src/node/db/chainStore.js'
import { baseRegistry } from '../../src/ledger/tx/index.js'
import { toHex } from '../../src/ledger/crypto.js'
import { getSupply } from '../../src/ledger/state/access.js'
import type { Account } from '../../src/ledger/state/records.js'
import { tempDir, exited } from '../helpers/cli.js'

const WRITER = join(dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'crashWriter.js')
const limits = { maxBlockBytes: 1 << 20, maxBlockTxs: 1000, maxTxBytes: 4096, maxValidators: 100 }

// SPEC 3.4: a block, its state changes and the head are one atomic batch; after kill -9 at any
// instant the store reopens at the last committed block with state equal to its state root.
test('a writer killed with SIGKILL during block commits always reopens consistent', async () => {
  const dir = tempDir()
  after(() => dir.cleanup())
  const dbPath = join(dir.path, 'db')
  let lastAcknowledged = 0
  for (let round = 0; round < 20; round++) {
    const proc = spawn(process.execPath, [WRITER, dbPath], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()))
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()))
    // Let it commit at least one block, then kill it at a random instant within the next commits.
    while (!/committed \d+/.test(out)) {
      if (proc.exitCode !== null) assert.fail(`writer died: ${err}`)
      await new Promise((r) => setTimeout(r, 5))
    }
    await new Promise((r) => setTimeout(r, Math.random() * 150))
    proc.kill('SIGKILL')
    await exited(proc)
    const acked = [...out.matchAll(/committed (\d+)/g)].map((m) => Number(m[1]))
    lastAcknowledged = Math.max(lastAcknowledged, ...acked)

    const db = new Level<string, Uint8Array>(dbPath, { valueEncoding: 'view' })
    await db.open()
    try {
      const store = new ChainStore(db, baseRegistry(), limits)
      const head = await store.head()
      assert.ok(
        head !== undefined && head.height >= lastAcknowledged,
        `every acknowledged block survived (round ${round})`,
      )
      const block = await store.blocks.get(head.height)
      const state = await store.loadState()
      assert.equal(
        toHex(state.root),
        toHex(block!.header.stateRoot),
        `state matches the head's state root (round ${round})`,
      )
      let held = 0n
      for (const [, a] of state.withPrefix('acct:')) held += (a as Account).balance + (a as Account).stake
      assert.equal(held, getSupply(state).total, 'no coin created or lost')
      assert.equal(await store.blocks.get(head.height + 1), undefined, 'nothing beyond the head is visible')
    } finally {
      await db.close()
    }
  }
  assert.ok(lastAcknowledged >= 20, `the writer made progress across restarts (${lastAcknowledged} blocks)`)
})
