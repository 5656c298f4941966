import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { TestDaemon } from '../helpers/daemon.js'
import { tempDir, waitFor } from '../helpers/cli.js'

// SPEC 2: five daemons that know only one bootstrap address find each other through the DHT.
test('five daemons started from one bootstrap address discover each other', async () => {
  const dir = tempDir()
  const daemons: TestDaemon[] = []
  after(async () => {
    await Promise.all(daemons.map((d) => d.stop()))
    dir.cleanup()
  })

  const ids: string[] = []
  for (let i = 0; i < 5; i++) {
    const { daemon, peerId } = await TestDaemon.init(join(dir.path, `p${i}`))
    // Each is the lone validator of its own devnet chain, whose Races (a core each, every epoch)
    // have nothing to do with discovery.
    const file = join(daemon.dataDir, 'config.json')
    writeFileSync(
      file,
      JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), raceWorker: { enabled: false } }),
    )
    daemons.push(daemon)
    ids.push(peerId)
  }
  const boot = await daemons[0]!.start()
  const bootAddr = boot.addrs[0]!
  assert.match(bootAddr, new RegExp(`/p2p/${ids[0]}$`))
  await Promise.all(daemons.slice(1).map((d) => d.start(['--bootstrap', bootAddr])))

  // Every peer's `cordex peers --json` lists the four others.
  for (const [i, d] of daemons.entries()) {
    const others = ids.filter((_, j) => j !== i).sort()
    const listed = await waitFor(
      `peer ${i} to list the other four`,
      async () => {
        const peers = await d.peers()
        const seen = peers.map((p) => p.peerId).sort()
        return others.every((o) => seen.includes(o)) ? peers : undefined
      },
      60_000,
    )
    for (const p of listed) {
      assert.ok(p.addrs.length > 0, 'each listed peer has an address')
      assert.ok(p.latencyMs === null || p.latencyMs >= 0)
    }
  }

  // peerRouting.findPeer through the DHT (not the local cache) resolves any peer from any other.
  for (const [i, d] of daemons.entries()) {
    for (const [j, id] of ids.entries()) {
      if (i === j) continue
      const r = await d.get<{ peerId: string; addrs: string[] }>(`/dht/peers/${id}`)
      assert.equal(r.status, 200, `peer ${i} finds peer ${j}: ${JSON.stringify(r.body)}`)
      assert.equal(r.body.peerId, id)
      assert.ok(
        r.body.addrs.some((a) => a.startsWith('/ip4/127.0.0.1/tcp/')),
        'found with its loopback address',
      )
    }
  }
})
