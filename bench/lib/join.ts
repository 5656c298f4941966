import { readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { DaemonProcess, PeerView } from './daemons.js'
import { initAll, stopAll, waitForMesh } from './discovery.js'
import { progress } from './report.js'
import { sleep } from './stats.js'
import { freePort } from '../../src/cli/cmds/devnet/ports.js'

export interface JoinOptions {
  meshTimeoutMs: number
  pollMs: number
  /** Wait after the others are ready, then the window in which their CPU at rest is measured. */
  settleMs: number
  restWindowMs: number
  keepDirs: boolean
  /** More arguments for every `cordex daemon`. */
  daemonArgs: string[]
}

export interface JoinResult {
  peers: number
  /** From the moment the bootstrap daemon answered until every daemon was connected to every other. */
  meshMs: number | null
  /** CPU seconds of all daemons over that time, and what they would have used at rest in it. */
  cpuSeconds: number
  restCpuSeconds: number
  /** Open connections when the mesh was complete (a full mesh needs n(n-1)/2; more are duplicates). */
  connections: number | null
  keptDir: string | null
}

/**
 * The mesh alone, without the start-up of the daemons that form it: n-1 daemons start with the
 * address of a bootstrap daemon that is not running yet (their dials to it fail and back off), all
 * become ready and settle; then the bootstrap daemon starts, and the time from its first answer to
 * the full mesh is what forming the mesh costs. In the discovery runs the same work overlaps the
 * start-up of every daemon.
 */
export async function runJoin(n: number, opts: JoinOptions): Promise<JoinResult> {
  const dir = mkdtempSync(join(tmpdir(), 'cxj-'))
  let daemons: DaemonProcess[] = []
  let result: Omit<JoinResult, 'keptDir'> | undefined
  let failure: unknown
  try {
    daemons = await initAll(dir, n)
    result = await measure(daemons, opts)
  } catch (err) {
    failure = err
  }
  const stop = await stopAll(daemons)
  const keep = opts.keepDirs || result?.meshMs === null || result === undefined || stop.unclean > 0
  if (!keep) rmSync(dir, { recursive: true, force: true })
  if (result === undefined) {
    throw new Error(`join of ${n} daemons failed (logs kept in ${dir}): ${(failure as Error).message}`)
  }
  return { ...result, keptDir: keep ? dir : null }
}

async function measure(daemons: DaemonProcess[], opts: JoinOptions): Promise<Omit<JoinResult, 'keptDir'>> {
  const n = daemons.length
  const [boot, ...rest] = daemons
  if (boot === undefined) throw new Error('no daemons')
  // Free now; the bootstrap daemon binds it only later, so another process could take it first.
  const port = await freePort()
  const configFile = join(boot.dataDir, 'config.json')
  const config = JSON.parse(readFileSync(configFile, 'utf8')) as { p2p?: Record<string, unknown> }
  writeFileSync(
    configFile,
    JSON.stringify({ ...config, p2p: { ...config.p2p, listen: [`/ip4/127.0.0.1/tcp/${port}`] } }),
  )
  const bootAddr = `/ip4/127.0.0.1/tcp/${port}/p2p/${boot.peerId}`

  progress(`join ${n}: starting ${rest.length} daemons whose bootstrap peer is not running yet`)
  for (const d of rest) d.spawn(['--bootstrap', bootAddr, ...opts.daemonArgs])
  await Promise.all(rest.map((d) => d.waitReady(performance.now() + 180_000)))
  await sleep(opts.settleMs)
  const cpu = (): number =>
    daemons.reduce((s, d) => s + (d.proc === undefined ? 0 : (d.cpuSeconds() ?? 0)), 0)
  const restStart = cpu()
  const restT0 = performance.now()
  await sleep(opts.restWindowMs)
  const restPerSecond = (cpu() - restStart) / ((performance.now() - restT0) / 1000)

  progress(`join ${n}: all at rest; starting the bootstrap daemon`)
  boot.spawn(opts.daemonArgs)
  await boot.waitReady(performance.now() + 60_000)
  const t0 = boot.readyAt
  const cpu0 = cpu()
  const mesh = await waitForMesh(`join ${n}`, daemons, t0, t0 + opts.meshTimeoutMs, opts.pollMs)
  const end = mesh.completeAt ?? performance.now()
  const cpuSeconds = cpu() - cpu0
  return {
    peers: n,
    meshMs: mesh.completeAt === null ? null : mesh.completeAt - t0,
    cpuSeconds,
    restCpuSeconds: (restPerSecond * (end - t0)) / 1000,
    connections: mesh.completeAt === null ? null : await countConnections(daemons),
  }
}

/** Open connections among the daemons: each is listed by both ends in GET /peers (one address each). */
async function countConnections(daemons: DaemonProcess[]): Promise<number | null> {
  let ends = 0
  for (const d of daemons) {
    const r = await d.get<PeerView[]>('/peers').catch(() => undefined)
    if (r?.status !== 200) return null
    ends += r.body.reduce((s, p) => s + p.addrs.length, 0)
  }
  return ends / 2
}
