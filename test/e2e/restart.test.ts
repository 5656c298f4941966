import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { TestDaemon } from '../helpers/daemon.js'
import { tempDir, waitFor } from '../helpers/cli.js'

// SPEC 2: the peer store persists, so a restarted peer finds its peers again without the bootstrap.
test('a restarted peer keeps its peer id and reconnects with its bootstrap peer stopped', async () => {
  const dir = tempDir()
  const [boot, a, b] = ['boot', 'a', 'b'].map((n) => new TestDaemon(join(dir.path, n))) as [
    TestDaemon,
    TestDaemon,
    TestDaemon,
  ]
  after(async () => {
    await Promise.all([boot.stop(), a.stop(), b.stop()])
    dir.cleanup()
  })

  const bootStatus = await boot.start()
  // Fixed ports, so the addresses the peers remember stay valid across restarts.
  const aStatus = await a.start(['--bootstrap', bootStatus.addrs[0]!])
  const bStatus = await b.start(['--bootstrap', bootStatus.addrs[0]!])
  await waitFor('a and b to connect', async () =>
    (await b.peers()).some((p) => p.peerId === aStatus.peerId) ? true : undefined,
  )

  await boot.stop()
  const { code } = await b.stop()
  assert.equal(code, 0, 'SIGTERM stops the daemon with exit code 0')

  // Restart b with the same data directory, the same listen address and the same (dead) bootstrap.
  const restarted = await b.start([
    '--listen',
    bStatus.addrs[0]!.replace(/\/p2p\/.*$/, ''),
    '--bootstrap',
    bootStatus.addrs[0]!,
  ])
  assert.equal(restarted.peerId, bStatus.peerId, 'same identity after restart')
  const peers = await waitFor(
    'restarted b to reconnect to a',
    async () => {
      const ps = await b.peers()
      return ps.some((p) => p.peerId === aStatus.peerId) ? ps : undefined
    },
    30_000,
  )
  assert.ok(!peers.some((p) => p.peerId === bootStatus.peerId), 'the bootstrap peer is gone')
})
