import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { TestDaemon, type StatusJson } from '../helpers/daemon.js'
import { tempDir, cordex, waitFor } from '../helpers/cli.js'
import { startDevnet } from '../helpers/devnet.js'

test('devnet starts a connected network whose peers rejoin when restarted with only --data-dir', async () => {
  const dir = tempDir()
  const base = join(dir.path, 'net')
  const restarted = new TestDaemon(join(base, 'peer-2'))
  const devnet = await startDevnet(base, 3, ['--api'])
  after(async () => {
    await restarted.stop()
    await devnet.stop()
    dir.cleanup()
  })
  const ready = { peers: devnet.peers }
  assert.equal(ready.peers.length, 3)
  for (const p of ready.peers) {
    assert.equal(p.peers, 2, 'each peer sees the two others')
    assert.match(p.apiUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+$/, '--api turns on the TCP listener')
  }
  // Every other command works on a devnet peer's data directory.
  const s1 = JSON.parse(
    (await cordex(['status', '--data-dir', join(base, 'peer-1'), '--json'])).stdout,
  ) as StatusJson
  assert.equal(s1.peerId, ready.peers[1]!.peerId)

  // Stop peer 2 alone, then run it by hand with only its data directory: it rejoins the others.
  const peer2 = ready.peers[2]!
  process.kill(peer2.pid, 'SIGTERM')
  await waitFor('peer 2 to stop', async () =>
    (await cordex(['status', '--data-dir', join(base, 'peer-2')])).code === 3 ? true : undefined,
  )
  const status = await restarted.start()
  assert.equal(status.peerId, peer2.peerId)
  assert.deepEqual(status.addrs, peer2.addrs, 'same listen address from its config.json')
  await waitFor('peer 2 to rejoin', async () => ((await restarted.peers()).length === 2 ? true : undefined))
})

test('usage errors exit 2 and every command has --help', async () => {
  const r = await cordex(['frobnicate'])
  assert.equal(r.code, 2)
  assert.match(r.stderr, /Unknown argument|Unknown command/i)
  for (const cmd of ['init', 'daemon', 'status', 'peers', 'devnet']) {
    const h = await cordex([cmd, '--help'])
    assert.equal(h.code, 0, `${cmd} --help`)
    assert.match(h.stdout, new RegExp(`cordex ${cmd}`))
  }
  const bad = await cordex(['devnet', '--peers', '0'])
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /--peers must be an integer from 1 to 64/)
})
