import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { Level } from 'level'
import { TestDaemon } from '../helpers/daemon.js'
import { tempDir, cordex, CORDEX, waitFor, exited, alive } from '../helpers/cli.js'

const dir = tempDir()
after(() => dir.cleanup())

/** The data directory's database can be opened, so no process holds its lock. */
async function assertUnlocked(dataDir: string): Promise<void> {
  const db = new Level(join(dataDir, 'db'))
  await db.open()
  await db.close()
  assert.ok(!existsSync(join(dataDir, 'cordex.sock')), 'socket file removed')
}

/** Pids of the direct children of `pid`, read from /proc. */
function childrenOf(pid: number): number[] {
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === pid) out.push(Number(name))
    } catch {
      // The process ended while we looked.
    }
  }
  return out
}

test('a config with a wrong field fails at start with a message naming it', async () => {
  const dataDir = join(dir.path, 'badcfg')
  await TestDaemon.init(dataDir)
  const cfg = join(dataDir, 'config.json')
  const local = JSON.parse(readFileSync(cfg, 'utf8')) as object
  writeFileSync(cfg, JSON.stringify({ ...local, p2p: { targetPeers: -3 } }))
  const r = await cordex(['daemon', '--data-dir', dataDir])
  assert.equal(r.code, 4)
  assert.match(r.stderr, /p2p\.targetPeers/)

  writeFileSync(cfg, JSON.stringify({ ...local, p2p: { targetPeerz: 3 } }))
  const r2 = await cordex(['daemon', '--data-dir', dataDir])
  assert.equal(r2.code, 4)
  assert.match(r2.stderr, /targetPeerz/)

  const r3 = await cordex(['daemon', '--data-dir', dataDir, '--network', 'mainnet'])
  assert.equal(r3.code, 4)
  assert.match(r3.stderr, /belongs to network "devnet"/)

  const r4 = await cordex([
    'init',
    '--data-dir',
    join(dir.path, 'badaddr'),
    '--bootstrap',
    '/ip4/127.0.0.1/tcp/1',
  ])
  assert.equal(r4.code, 4)
  assert.match(r4.stderr, /p2p\.bootstrap\.0: a bootstrap address must end in \/p2p\/<peer id>/)
  assert.ok(!existsSync(join(dir.path, 'badaddr', 'config.json')), 'a refused init writes nothing')
})

test('a second daemon on the same data directory refuses to start', async () => {
  const { daemon } = await TestDaemon.init(join(dir.path, 'twice'))
  const status = await daemon.start()
  try {
    const r = await cordex(['daemon', '--data-dir', daemon.dataDir])
    assert.equal(r.code, 5)
    assert.match(r.stderr, new RegExp(`another daemon is running on .*twice \\(pid ${status.pid}\\)`))
    // The first one is unharmed.
    assert.equal((await daemon.status()).peerId, status.peerId)
  } finally {
    await daemon.stop()
  }
})

test('SIGTERM while running stops the daemon cleanly and leaves no lock', async () => {
  const { daemon } = await TestDaemon.init(join(dir.path, 'term'))
  await daemon.start()
  const { code } = await daemon.stop('SIGTERM')
  assert.equal(code, 0)
  assert.match(daemon.output, /"msg":"daemon stopped"/)
  await assertUnlocked(daemon.dataDir)
})

test('SIGTERM during start-up leaves no lock behind', async () => {
  for (const when of ['daemon starting', 'libp2p started']) {
    const { daemon } = await TestDaemon.init(join(dir.path, `early-${when.split(' ')[0]}`))
    const proc = daemon.spawn()
    await waitFor(`"${when}"`, async () => (daemon.output.includes(when) ? true : undefined))
    proc.kill('SIGTERM')
    const { code } = await exited(proc)
    assert.equal(code, 0, `clean exit after SIGTERM at "${when}": ${daemon.output}`)
    await assertUnlocked(daemon.dataDir)
    // And the directory is usable again at once.
    await daemon.start()
    await daemon.stop()
  }
})

test('devnet: SIGTERM during start-up and while running leaves no daemon and no lock behind', async () => {
  for (const phase of ['start-up', 'running']) {
    const base = join(dir.path, `devnet-${phase}`)
    const proc = spawn(process.execPath, [CORDEX, 'devnet', '--peers', '3', '--base-dir', base, '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()))
    let children: number[] = []
    if (phase === 'start-up') {
      children = await waitFor('a first daemon child', async () => {
        const c = childrenOf(proc.pid!)
        return c.length > 0 ? c : undefined
      })
    } else {
      await waitFor('devnet ready', async () => (out.includes('"event":"ready"') ? true : undefined), 60_000)
      children = childrenOf(proc.pid!)
      assert.equal(children.length, 3)
    }
    proc.kill('SIGTERM')
    const { code } = await exited(proc)
    assert.equal(code, 0, `devnet exits 0 after SIGTERM (${phase})`)
    // Any child spawned after we looked is covered by the lock check below.
    for (const pid of children) assert.ok(!alive(pid), `daemon ${pid} is gone`)
    for (const name of readdirSync(base)) await assertUnlocked(join(base, name))
  }
})

test('a daemon whose starter is killed outright (a test run cut off) stops by itself, with CORDEX_EXIT_WITH_PARENT', async () => {
  const { daemon } = await TestDaemon.init(join(dir.path, 'orphan'))
  // A starter process that spawns the daemon and is then SIGKILLed: no cleanup of its own runs.
  const starter = spawn(
    process.execPath,
    [
      '-e',
      `const c = require('node:child_process').spawn(process.execPath, [${JSON.stringify(CORDEX)}, 'daemon', '--data-dir', ${JSON.stringify(daemon.dataDir)}], { stdio: 'ignore', env: { ...process.env, CORDEX_EXIT_WITH_PARENT: '1' } }); console.log(c.pid); setInterval(() => {}, 1000)`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  let out = ''
  starter.stdout.on('data', (d: Buffer) => (out += d.toString()))
  const pid = await waitFor('the daemon pid', async () =>
    /^\d+\n/.test(out) ? Number(out.trim()) : undefined,
  )
  await waitFor('the daemon answering', async () =>
    (await cordex(['status', '--data-dir', daemon.dataDir])).code === 0 ? true : undefined,
  )
  starter.kill('SIGKILL')
  await waitFor('the orphaned daemon gone', async () => (alive(pid) ? undefined : true), 30_000)
  await assertUnlocked(daemon.dataDir)
})
