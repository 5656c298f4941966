import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { TestDaemon } from '../helpers/daemon.js'
import { tempDir, cordex, cordexJson, waitFor } from '../helpers/cli.js'
import { startDevnet } from '../helpers/devnet.js'
import { testSigner } from '../helpers/chainSim.js'

interface Head {
  height: number
  hash: string
}

test('four validator daemons: a CLI transfer finalizes everywhere; a killed daemon catches up over sync', async () => {
  const dir = tempDir()
  const base = join(dir.path, 'net')
  const devnet = await startDevnet(base, 4)
  /** The daemon restarted after the kill, stopped before the others. */
  const restarts: TestDaemon[] = []
  after(async () => {
    for (const d of restarts) await d.stop()
    await devnet.stop()
    dir.cleanup()
  })
  const ready = { peers: devnet.peers }
  const dirs = [0, 1, 2, 3].map((i) => join(base, `peer-${i}`))
  const ids = ready.peers.map((p) => p.peerId)

  // The four are the genesis validators and finalize blocks.
  const head0 = await waitFor('blocks', async () => {
    const h = await cordexJson<Head & { validators: unknown[] }>(['ledger', 'head', '--data-dir', dirs[0]!])
    return h.height >= 3 ? h : undefined
  })
  assert.equal(head0.validators.length, 4)

  // A transfer made with the CLI on peer 0 finalizes, and every peer sees the new balances. The
  // recipient is not a validator, so no block fee lands in its account meanwhile.
  const recipient = testSigner(99).peerId
  const before = await cordexJson<{ balance: string }>([
    'ledger',
    'account',
    recipient,
    '--data-dir',
    dirs[0]!,
  ])
  assert.equal(before.balance, '0')
  const sent = await cordexJson<{ hash: string; status: string; height: number }>([
    'tx',
    'transfer',
    '--to',
    recipient,
    '--amount',
    '12345',
    '--data-dir',
    dirs[0]!,
  ])
  assert.equal(sent.status, 'committed')
  const expected = '12345'
  for (const d of dirs) {
    await waitFor(`the transfer on ${d}`, async () => {
      const a = await cordexJson<{ balance: string }>(['ledger', 'account', recipient, '--data-dir', d])
      return a.balance === expected ? true : undefined
    })
  }
  const block = await cordexJson<{ txs: Array<{ hash: string }> }>([
    'ledger',
    'block',
    String(sent.height),
    '--data-dir',
    dirs[1]!,
  ])
  assert.ok(
    block.txs.some((t) => t.hash === sent.hash),
    'the block holds the transaction on another peer',
  )

  // A refused transfer says why and changes nothing.
  const broke = await cordex([
    'tx',
    'transfer',
    '--to',
    ids[3]!,
    '--amount',
    '99999999999999999999',
    '--data-dir',
    dirs[1]!,
    '--json',
  ])
  assert.equal(broke.code, 6)
  assert.match(broke.stderr, /amount|balance/)

  // Kill the validator with the least voting power with SIGKILL; the other three keep finalizing.
  // Power is the weight each won in the last Race, so it is not the same for all four: the least
  // of four holds at most a quarter, and the other three more than the two thirds a block needs.
  // A Race's weights apply once its proofs are judged, so a validator killed after sending its proof
  // and before the verdicts comes back in the next set with what it won (once with 57%: the chain
  // halted). So the kill comes right after a new set applies: the next Race's proofs are seconds of
  // racing away, which the killed one no longer does.
  type Validators = Array<{ id: string; power: number }>
  const headOf = (d: string): Promise<Head & { validators: Validators }> =>
    cordexJson<Head & { validators: Validators }>(['ledger', 'head', '--data-dir', d])
  const setOf = (vs: Validators): string =>
    JSON.stringify([...vs].sort((a, b) => a.id.localeCompare(b.id)).map((v) => [v.id, v.power]))
  const lastSet = setOf((await headOf(dirs[0]!)).validators)
  const head = await waitFor(
    "the next Race's weights to apply",
    async () => {
      const h = await headOf(dirs[0]!)
      return setOf(h.validators) !== lastSet ? h : undefined
    },
    60_000,
  )
  const weakest = head.validators.reduce((a, b) => (b.power < a.power ? b : a))
  const k = ids.indexOf(weakest.id)
  assert.ok(k >= 0, `validator ${weakest.id} is one of the four`)
  const killedAt = head.height
  // Watched through a survivor (the weakest may be peer 0).
  const survivor = dirs[k === 0 ? 1 : 0]!
  process.kill(ready.peers[k]!.pid, 'SIGKILL')
  await waitFor(
    'three validators to go on',
    async () => {
      const h = await headOf(survivor)
      return h.height >= killedAt + 10 ? true : undefined
    },
    60_000,
  )

  // Restarted, it catches up through sync and agrees with the others.
  const restarted = new TestDaemon(dirs[k]!)
  restarts.push(restarted)
  await restarted.start()
  const target = (await headOf(survivor)).height
  await waitFor(
    `peer ${k} to catch up`,
    async () => {
      const h = await headOf(dirs[k]!)
      return h.height >= target ? true : undefined
    },
    60_000,
  )
  assert.match(restarted.output, /"msg":"sync finished"/)
  const hashes = await Promise.all(
    dirs.map(
      async (d) => (await cordexJson<Head>(['ledger', 'block', String(target), '--data-dir', d])).hash,
    ),
  )
  assert.equal(new Set(hashes).size, 1, `all four hold the same block ${target}`)
  // It votes again: its precommit shows up in the commits of later blocks.
  await waitFor(
    `a commit signed by peer ${k}`,
    async () => {
      // Read peer 0's last blocks straight off its socket (a CLI process per block is slow).
      const peer0 = new TestDaemon(dirs[0]!)
      const head = (await peer0.get<Head>('/ledger/head')).body.height
      for (let h = head; h > Math.max(target, head - 20); h--) {
        const b = await peer0.get<{ commit: { signers: string[] } | null }>(`/ledger/blocks/${h}`)
        if (b.body.commit?.signers.includes(ids[k]!)) return true
      }
      return undefined
    },
    60_000,
  )
})
