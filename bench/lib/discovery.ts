import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { DaemonProcess, initDataDir, type PeerView, type StatusView } from './daemons.js'
import { progress } from './report.js'
import { sampleOthers, seededRandom, sleep, summarize, type Percentiles } from './stats.js'

export interface DiscoveryOptions {
  /** How long to wait for the full mesh after the last daemon became ready. */
  meshTimeoutMs: number
  /** How long to keep retrying the sampled DHT lookups after the mesh wait. */
  routeTimeoutMs: number
  /** Random other peers each daemon looks up through the DHT. */
  routesPerPeer: number
  /** Interval of the control-socket polls. */
  pollMs: number
  /** Wait after the lookups before the idle window, so that the work they set off has ended. */
  idleSettleMs: number
  /** Length of the quiet window in which the daemons' idle CPU use is measured. */
  idleWindowMs: number
  /** Keep the data directories even when everything worked. */
  keepDirs: boolean
  /** More arguments for every `cordex daemon`. */
  daemonArgs: string[]
}

export interface DiscoveryResult {
  peers: number
  /** Every daemon was connected to every other before the deadline. */
  meshComplete: boolean
  /** Milliseconds from the first spawn until the last daemon's socket answered. */
  lastReadyMs: number
  /** From the first spawn until every daemon was connected to every other. */
  meshMs: number | null
  /** From the first spawn until every sampled DHT lookup had succeeded. */
  routedMs: number | null
  /** The same two, counted from the moment the last daemon became ready. */
  meshAfterLastReadyMs: number | null
  routedAfterLastReadyMs: number | null
  routes: { sampled: number; found: number; findPeerMs: Percentiles }
  /** Connected peers and routing-table sizes per daemon when the mesh wait ended. */
  connected: { min: number; mean: number }
  routingTable: { min: number; mean: number }
  /** Resident memory per daemon process when the mesh wait ended. */
  rssMiB: { mean: number; max: number } | null
  cpu: {
    /** CPU seconds all daemons together had used when the mesh wait ended. */
    untilMeshSeconds: number
    /** Of those, the seconds used before the last daemon's socket answered (start-up, mostly). */
    untilLastReadySeconds: number
    /** That CPU time as a share of all cores over the same wall time: near 100 means CPU-bound. */
    busyPct: number
    /** Per daemon, in % of one core, over a quiet window that starts `idleSettleMs` after the lookups. */
    idlePct: { mean: number; max: number }
  }
  /** SIGTERM to the exit of the last daemon; unclean counts non-zero exits and SIGKILLs. */
  stop: { ms: number; unclean: number }
  /** The temporary directory when kept (after a failure: its p<i>/daemon.log files tell why). */
  keptDir: string | null
  notes: string[]
}

type Measured = Omit<DiscoveryResult, 'stop' | 'keptDir'>

/**
 * Start `n` real daemon processes through the CLI, one bootstrap address for all, and time how long
 * they take to connect to each other and to find each other through the DHT. The daemons are always
 * stopped before this returns or throws.
 */
export async function runDiscovery(n: number, opts: DiscoveryOptions): Promise<DiscoveryResult> {
  // Short on purpose: <tmp>/cxb-XXXXXX/p19/cordex.sock must stay under the 107-byte socket limit.
  const dir = mkdtempSync(join(tmpdir(), 'cxb-'))
  let daemons: DaemonProcess[] = []
  let measured: Measured | undefined
  let failure: unknown
  try {
    daemons = await initAll(dir, n)
    measured = await measure(daemons, opts)
  } catch (err) {
    failure = err
  }
  const stop = await stopAll(daemons)
  const clean =
    measured !== undefined && measured.meshComplete && measured.routes.found === measured.routes.sampled
  const keep = opts.keepDirs || !clean || stop.unclean > 0
  if (!keep) rmSync(dir, { recursive: true, force: true })
  if (measured === undefined) {
    throw new Error(`discovery with ${n} daemons failed (logs kept in ${dir}): ${(failure as Error).message}`)
  }
  if (stop.unclean > 0) measured.notes.push(`${stop.unclean} daemon(s) did not exit cleanly on SIGTERM`)
  return { ...measured, stop, keptDir: keep ? dir : null }
}

/** `cordex init` for every data directory, two at a time (each is a Node process on a 2-core host). */
export async function initAll(dir: string, n: number): Promise<DaemonProcess[]> {
  progress(`discovery ${n}: cordex init ×${n} in ${dir}`)
  const daemons: DaemonProcess[] = new Array<DaemonProcess>(n)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++
      const dataDir = join(dir, `p${i}`)
      mkdirSync(dataDir, { recursive: true })
      daemons[i] = new DaemonProcess(i, dataDir, await initDataDir(dataDir))
    }
  }
  await Promise.all([worker(), worker()])
  return daemons
}

async function measure(daemons: DaemonProcess[], opts: DiscoveryOptions): Promise<Measured> {
  const n = daemons.length
  const [first, ...rest] = daemons
  if (first === undefined) throw new Error('no daemons')

  // Peer 0 listens on a random port, so the others can only be told its address once it runs.
  const t0 = performance.now()
  first.spawn(opts.daemonArgs)
  const boot = await first.waitReady(t0 + 60_000)
  const bootAddr = boot.addrs.find((a) => a.startsWith('/ip4/127.0.0.1/')) ?? boot.addrs[0]
  if (bootAddr === undefined) throw new Error('peer 0 reports no address')
  progress(
    `discovery ${n}: p0 ready after ${Math.round(first.readyAt - t0)} ms; starting ${rest.length} more`,
  )
  for (const d of rest) d.spawn(['--bootstrap', bootAddr, ...opts.daemonArgs])
  await Promise.all(rest.map((d) => d.waitReady(performance.now() + 120_000)))
  const lastReady = Math.max(...daemons.map((d) => d.readyAt))
  const cpuAtLastReady = sum(daemons.map((d) => d.cpuSeconds() ?? 0))
  progress(`discovery ${n}: all sockets answer ${Math.round(lastReady - t0)} ms after the first spawn`)

  const mesh = await waitForMesh(`discovery ${n}`, daemons, t0, lastReady + opts.meshTimeoutMs, opts.pollMs)
  // Memory once the mesh is complete (or the wait gave up), before the lookups add their own load.
  const rss = daemons.map((d) => d.rssMiB()).filter((v): v is number => v !== undefined)
  const cpuAtMesh = sum(daemons.map((d) => d.cpuSeconds() ?? 0))
  const busyPct = (100 * cpuAtMesh) / (((performance.now() - t0) / 1000) * cpus().length)
  const routes = await checkRoutes(daemons, opts.routesPerPeer, performance.now() + opts.routeTimeoutMs)
  // After the lookups, so that this wait does not delay them, and once what they set off has ended
  // (the routing-table updates and dials after a lookup): what a connected daemon costs at rest.
  await sleep(opts.idleSettleMs)
  const idle = await idleCpu(daemons, opts.idleWindowMs)

  const notes: string[] = []
  if (mesh.completeAt === null) notes.push(...(await diagnose(daemons, mesh.last)))
  for (const p of routes.pairs.filter((p) => Number.isNaN(p.foundAt))) {
    notes.push(`p${p.from.index} could not find p${p.to.index} through the DHT: ${p.lastError}`)
  }
  const peersOf = mesh.last.map((s) => s?.peers ?? 0)
  const tablesOf = mesh.last.map((s) => s?.routingTableSize ?? 0)
  const since = (t: number | null, from: number): number | null => (t === null ? null : t - from)
  return {
    peers: n,
    meshComplete: mesh.completeAt !== null,
    lastReadyMs: lastReady - t0,
    meshMs: since(mesh.completeAt, t0),
    routedMs: since(routes.doneAt, t0),
    meshAfterLastReadyMs: since(mesh.completeAt, lastReady),
    routedAfterLastReadyMs: since(routes.doneAt, lastReady),
    routes: {
      sampled: routes.pairs.length,
      found: routes.pairs.filter((p) => !Number.isNaN(p.foundAt)).length,
      findPeerMs: summarize(routes.latencies),
    },
    connected: { min: Math.min(...peersOf), mean: mean(peersOf) },
    routingTable: { min: Math.min(...tablesOf), mean: mean(tablesOf) },
    rssMiB: rss.length > 0 ? { mean: mean(rss), max: Math.max(...rss) } : null,
    cpu: {
      untilMeshSeconds: cpuAtMesh,
      untilLastReadySeconds: cpuAtLastReady,
      busyPct,
      idlePct: { mean: mean(idle), max: Math.max(...idle) },
    },
    notes,
  }
}

export interface MeshOutcome {
  /** When the last daemon first reported all n-1 others (performance.now()), or null. */
  completeAt: number | null
  /** Each daemon's last /status reply (undefined where it did not answer). */
  last: Array<StatusView | undefined>
}

/**
 * Poll every daemon's /status until each counts n-1 connected peers, and confirm with /peers that
 * those are exactly the other daemons. A daemon's time is that of the first reply that saw it full,
 * so the result is accurate to one request rather than to one poll round.
 */
export async function waitForMesh(
  label: string,
  daemons: DaemonProcess[],
  t0: number,
  deadline: number,
  pollMs: number,
): Promise<MeshOutcome> {
  const n = daemons.length
  const fullSince = daemons.map(() => Number.NaN)
  const verified = daemons.map(() => false)
  let last: Array<StatusView | undefined> = []
  let nextProgress = performance.now() + 2000
  for (;;) {
    last = await Promise.all(
      daemons.map(async (d, i) => {
        const s = await d.status().catch(() => undefined)
        if (s?.peers === n - 1) {
          if (Number.isNaN(fullSince[i])) fullSince[i] = performance.now()
        } else {
          fullSince[i] = Number.NaN
          verified[i] = false
        }
        return s
      }),
    )
    // /peers costs a peer-store read per peer, so it is asked only of daemons that look full.
    await Promise.all(
      daemons.map(async (d, i) => {
        if (Number.isNaN(fullSince[i]) || verified[i]) return
        verified[i] = await listsAllOthers(d, daemons)
      }),
    )
    if (verified.every(Boolean)) return { completeAt: Math.max(...fullSince), last }
    const now = performance.now()
    if (now >= deadline) return { completeAt: null, last }
    if (now >= nextProgress) {
      nextProgress = now + 2000
      const peers = last.map((s) => s?.peers ?? 0)
      progress(
        `${label}: +${((now - t0) / 1000).toFixed(1)} s: ${verified.filter(Boolean).length}/${n} fully connected, ` +
          `fewest peers ${Math.min(...peers)}/${n - 1}, smallest routing table ${Math.min(...last.map((s) => s?.routingTableSize ?? 0))}`,
      )
    }
    await sleep(pollMs)
  }
}

async function listsAllOthers(d: DaemonProcess, daemons: DaemonProcess[]): Promise<boolean> {
  const r = await d.get<PeerView[]>('/peers').catch(() => undefined)
  if (r?.status !== 200) return false
  const seen = new Set(r.body.map((p) => p.peerId))
  return daemons.every((o) => o === d || seen.has(o.peerId))
}

interface RoutePair {
  from: DaemonProcess
  to: DaemonProcess
  foundAt: number
  lastError: string
}

/**
 * Each daemon looks up `perPeer` random others with GET /dht/peers/<id> (peerRouting.findPeer
 * through the DHT, skipping the local cache). A daemon asks one at a time, all daemons at once;
 * failed lookups are retried until `deadline`.
 */
async function checkRoutes(
  daemons: DaemonProcess[],
  perPeer: number,
  deadline: number,
): Promise<{ pairs: RoutePair[]; latencies: number[]; doneAt: number | null }> {
  const n = daemons.length
  // Seeded by the network size, so a rerun samples the same pairs.
  const rand = seededRandom(0xc0de + n)
  const pairs: RoutePair[] = daemons.flatMap((from) =>
    sampleOthers(n, from.index, Math.min(perPeer, n - 1), rand).map((j) => ({
      from,
      to: daemons[j] as DaemonProcess,
      foundAt: Number.NaN,
      lastError: '',
    })),
  )
  const latencies: number[] = []
  const lookup = async (p: RoutePair): Promise<void> => {
    const t = performance.now()
    try {
      const r = await p.from.get<{ peerId?: string; error?: { message: string } }>(
        `/dht/peers/${p.to.peerId}`,
      )
      if (r.status === 200 && r.body.peerId === p.to.peerId) {
        p.foundAt = performance.now()
        latencies.push(p.foundAt - t)
      } else {
        p.lastError = `HTTP ${r.status} ${r.body.error?.message ?? ''}`
      }
    } catch (err) {
      p.lastError = (err as Error).message
    }
  }
  for (;;) {
    const pending = pairs.filter((p) => Number.isNaN(p.foundAt))
    if (pending.length === 0 || performance.now() >= deadline) break
    await Promise.all(
      daemons.map(async (d) => {
        for (const p of pending.filter((q) => q.from === d)) {
          if (performance.now() >= deadline) break
          await lookup(p)
        }
      }),
    )
    if (pairs.some((p) => Number.isNaN(p.foundAt))) await sleep(250)
  }
  const done = pairs.every((p) => !Number.isNaN(p.foundAt))
  return { pairs, latencies, doneAt: done ? Math.max(...pairs.map((p) => p.foundAt)) : null }
}

/** For a mesh that did not complete: how far each short daemon got, and what its log says. */
async function diagnose(daemons: DaemonProcess[], last: Array<StatusView | undefined>): Promise<string[]> {
  const n = daemons.length
  const notes: string[] = []
  for (const [i, d] of daemons.entries()) {
    const s = last[i]
    if (s?.peers === n - 1) continue
    notes.push(
      `p${i}: ${s === undefined ? 'no answer' : `${s.peers}/${n - 1} peers, routing table ${s.routingTableSize}`}` +
        `; ${await missingPeers(d, daemons)}; log (warn+): ${d.logTail(3).replace(/\n/g, ' | ').slice(0, 600)}`,
    )
  }
  return notes
}

/** Which other daemons `d` is not connected to now, by its /peers list. */
async function missingPeers(d: DaemonProcess, daemons: DaemonProcess[]): Promise<string> {
  const r = await d.get<PeerView[]>('/peers').catch(() => undefined)
  if (r?.status !== 200) return 'GET /peers did not answer'
  const seen = new Set(r.body.map((p) => p.peerId))
  const missing = daemons.filter((o) => o !== d && !seen.has(o.peerId)).map((o) => `p${o.index}`)
  return missing.length > 0 ? `not connected to ${missing.join(' ')}` : 'connected to all by now'
}

/** SIGTERM every daemon at once and wait for all to exit (SIGKILL after 10 s). */
export async function stopAll(daemons: DaemonProcess[]): Promise<{ ms: number; unclean: number }> {
  const t = performance.now()
  const results = await Promise.all(daemons.filter((d) => d.proc !== undefined).map((d) => d.stop()))
  const unclean = results.filter((r) => r.killed || r.code !== 0).length
  return { ms: performance.now() - t, unclean }
}

/** Each daemon's CPU use over `windowMs` of doing nothing asked of it, in % of one core. */
async function idleCpu(daemons: DaemonProcess[], windowMs: number): Promise<number[]> {
  const before = daemons.map((d) => d.cpuSeconds())
  const t = performance.now()
  await sleep(windowMs)
  const seconds = (performance.now() - t) / 1000
  return daemons.flatMap((d, i) => {
    const a = before[i]
    const b = d.cpuSeconds()
    return a === undefined || b === undefined ? [] : [(100 * (b - a)) / seconds]
  })
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0)
}

function mean(values: readonly number[]): number {
  return values.length > 0 ? sum(values) / values.length : Number.NaN
}
