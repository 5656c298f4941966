// Network benchmark of Cordex: discovery across daemon processes, the mesh alone (its bootstrap
// daemon started last), stream round trips, gossip latency, what one connection costs in CPU.
// Prints figures; asserts nothing about them. `npm run bench:net`.
//
//   BENCH_SIZES=5,10,20   daemon counts for the discovery runs (default 5,10,20)
//   BENCH_JSON=path       also write the figures as JSON
//   BENCH_KEEP=1          keep the daemons' data directories (kept anyway when a run fails)
//   BENCH_LOG_LEVEL=debug the daemons' log level (their logs stay in those directories with BENCH_KEEP)
//   BENCH_CPU_PROF=1      each daemon writes a V8 CPU profile to <data dir>/prof (keep them with BENCH_KEEP)
//
// Arguments pick sections: `npm run bench:net -- discovery join` runs only those (`discovery`,
// `join`, `rtt`, `gossip`, `connections`; default all; an unknown name is refused).
//
// The daemons inherit the environment and log to <data dir>/daemon.log, so for instance
// DEBUG='libp2p:*:error' puts libp2p's own error log there (and on this process's stderr).
//
// The polyfill must load before anything that imports libp2p (Node 20 lacks Promise.withResolvers).
import '../src/polyfill.js'
import { cpus } from 'node:os'
import { writeFileSync } from 'node:fs'
import { killAllDaemons, stopAllDaemons } from './lib/daemons.js'
import { pickSections } from './lib/sections.js'
import { runDiscovery, type DiscoveryResult } from './lib/discovery.js'
import { runRtt, type RttResult } from './lib/rtt.js'
import { runGossip, type GossipResult } from './lib/gossip.js'
import { runConnCost, type ConnCostResult } from './lib/connCost.js'
import { runJoin, type JoinResult } from './lib/join.js'
import { ms, num, print, progress, table } from './lib/report.js'
import type { Percentiles } from './lib/stats.js'

/** The figures we compare against (from the project's goals), reported, never enforced. */
const TARGETS = {
  /** 20 daemons fully connected within this long after the last one started. */
  discovery: { peers: 20, afterLastReadyMs: 10_000 },
  /** p50 of a libp2p round trip minus that of raw TCP. */
  streamOverheadP50Ms: 1,
}

const SECTIONS = ['discovery', 'join', 'rtt', 'gossip', 'connections']

/** How the discovery runs wait and sample (the mesh deadline counts from the last daemon's start). */
const DISCOVERY = {
  meshTimeoutMs: 60_000,
  routeTimeoutMs: 30_000,
  routesPerPeer: 3,
  pollMs: 250,
  idleSettleMs: 15_000,
  idleWindowMs: 10_000,
}

interface BenchResults {
  startedAt: string
  machine: { node: string; platform: string; cpus: number; cpuModel: string }
  discovery: DiscoveryResult[]
  join: JoinResult | null
  rtt: RttResult | null
  gossip: GossipResult | null
  connections: ConnCostResult | null
  /** Sections that could not run to the end, with the reason. */
  errors: Array<{ section: string; message: string }>
}

async function main(): Promise<number> {
  const sizes = parseSizes(process.env.BENCH_SIZES ?? '5,10,20')
  const logLevel = process.env.BENCH_LOG_LEVEL ?? ''
  const results: BenchResults = {
    startedAt: new Date().toISOString(),
    machine: {
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    },
    discovery: [],
    join: null,
    rtt: null,
    gossip: null,
    connections: null,
    errors: [],
  }
  const wanted = pickSections(SECTIONS)
  const section = async <T>(name: string, run: () => Promise<T>): Promise<T | null> => {
    if (!wanted(name.split(' ')[0]!)) return null
    try {
      return await run()
    } catch (err) {
      progress(`${name} failed: ${(err as Error).message}`)
      results.errors.push({ section: name, message: (err as Error).message })
      return null
    }
  }

  for (const n of sizes) {
    const r = await section(`discovery ${n}`, () =>
      runDiscovery(n, {
        ...DISCOVERY,
        keepDirs: process.env.BENCH_KEEP === '1',
        daemonArgs: logLevel === '' ? [] : ['--log-level', logLevel],
      }),
    )
    if (r !== null) results.discovery.push(r)
  }
  const joinSize = Math.max(...sizes)
  results.join = await section(`join ${joinSize}`, () =>
    runJoin(joinSize, {
      meshTimeoutMs: DISCOVERY.meshTimeoutMs,
      pollMs: DISCOVERY.pollMs,
      settleMs: 10_000,
      restWindowMs: 10_000,
      keepDirs: process.env.BENCH_KEEP === '1',
      daemonArgs: logLevel === '' ? [] : ['--log-level', logLevel],
    }),
  )
  results.rtt = await section('rtt', () => runRtt({ samples: 2000, warmup: 200, messageBytes: 64 }))
  results.gossip = await section('gossip', () =>
    runGossip({ peers: 10, messages: 200, messageBytes: 64, intervalMs: 10, drainMs: 5_000 }),
  )
  results.connections = await section('connections', () =>
    runConnCost({ connections: 30, handshakes: 300, rounds: 5 }),
  )

  printSummary(results)
  const jsonPath = process.env.BENCH_JSON
  if (jsonPath !== undefined && jsonPath !== '') {
    writeFileSync(jsonPath, JSON.stringify({ targets: TARGETS, ...results }, null, 2) + '\n')
    progress(`figures written to ${jsonPath}`)
  }
  // Slow figures are figures; only a section that could not run at all fails the command.
  return results.errors.length > 0 ? 1 : 0
}

function parseSizes(text: string): number[] {
  const sizes = text.split(',').map((s) => Number(s.trim()))
  if (sizes.some((n) => !Number.isInteger(n) || n < 2 || n > 100)) {
    throw new Error(`BENCH_SIZES must list whole numbers from 2 to 100, got "${text}"`)
  }
  return sizes
}

function printSummary(r: BenchResults): void {
  print()
  print(`Cordex network benchmark, ${r.startedAt}`)
  print(`Node ${r.machine.node}, ${r.machine.platform}, ${r.machine.cpus} CPUs (${r.machine.cpuModel})`)
  printDiscovery(r.discovery)
  if (r.join !== null) printJoin(r.join)
  if (r.rtt !== null) printRtt(r.rtt)
  if (r.gossip !== null) printGossip(r.gossip)
  if (r.connections !== null) printConnCost(r.connections)
  if (r.errors.length > 0) {
    print()
    print('Sections that did not complete:')
    for (const e of r.errors) print(`  ${e.section}: ${e.message}`)
  }
}

function printDiscovery(results: DiscoveryResult[]): void {
  if (results.length === 0) return
  print()
  print(
    `1. Discovery: real \`cordex daemon\` processes, all bootstrapped from p0, control sockets polled every ${DISCOVERY.pollMs} ms`,
  )
  print('   (times from the first spawn; "+last" counts from the moment the last daemon\'s socket answered;')
  print(
    `   "routed": each daemon found ${DISCOVERY.routesPerPeer} random others through GET /dht/peers/<id>)`,
  )
  print(
    table([
      [
        'peers',
        'last ready',
        'full mesh',
        'mesh +last',
        'routed',
        'routed +last',
        'DHT lookups',
        'findPeer p50/p99',
      ],
      ...results.map((d) => [
        String(d.peers),
        ms(d.lastReadyMs),
        d.meshComplete ? ms(d.meshMs) : `no (${d.connected.min}/${d.peers - 1})`,
        ms(d.meshAfterLastReadyMs),
        ms(d.routedMs),
        ms(d.routedAfterLastReadyMs),
        `${d.routes.found}/${d.routes.sampled}`,
        `${ms(d.routes.findPeerMs.p50)} / ${ms(d.routes.findPeerMs.p99)}`,
      ]),
    ]),
  )
  print()
  print(
    '   Resources: RSS per daemon at full mesh; CPU of all daemons until the last was ready and from then until the mesh;',
  )
  print(
    `   CPU per daemon at rest: ${DISCOVERY.idleWindowMs / 1000} s measured ${DISCOVERY.idleSettleMs / 1000} s after the lookups`,
  )
  print(
    table([
      [
        'peers',
        'RSS mean',
        'RSS max',
        'CPU to last ready',
        'CPU then to mesh',
        'cores busy',
        'idle CPU mean',
        'idle CPU max',
        'SIGTERM to exit',
      ],
      ...results.map((d) => [
        String(d.peers),
        d.rssMiB === null ? '—' : `${num(d.rssMiB.mean)} MiB`,
        d.rssMiB === null ? '—' : `${num(d.rssMiB.max)} MiB`,
        `${num(d.cpu.untilLastReadySeconds)} s`,
        `${num(d.cpu.untilMeshSeconds - d.cpu.untilLastReadySeconds)} s`,
        `${num(d.cpu.busyPct, 0)}%`,
        `${num(d.cpu.idlePct.mean)}% of a core`,
        `${num(d.cpu.idlePct.max)}%`,
        ms(d.stop.ms),
      ]),
    ]),
  )
  const target = results.find((d) => d.peers === TARGETS.discovery.peers)
  const limit = TARGETS.discovery.afterLastReadyMs
  if (target !== undefined) {
    const got = target.meshAfterLastReadyMs
    const verdict = got === null ? 'not reached' : got <= limit ? 'met' : 'missed'
    print(
      `   target: ${TARGETS.discovery.peers} peers in a full mesh within ${ms(limit)} of the last start: ${verdict} (${ms(got)})`,
    )
  }
  for (const d of results) {
    for (const note of d.notes) print(`   note (${d.peers} peers): ${note}`)
    if (d.keptDir !== null) print(`   data directories of the ${d.peers}-peer run kept in ${d.keptDir}`)
  }
}

function printJoin(j: JoinResult): void {
  const n = j.peers
  print()
  print(
    `   The mesh alone: ${n - 1} daemons ready and at rest, then the bootstrap daemon they were given starts`,
  )
  print(
    table([
      [
        'peers',
        'full mesh after it answered',
        'CPU of all daemons meanwhile',
        'of which at rest',
        'connections (full mesh)',
      ],
      [
        String(n),
        j.meshMs === null ? 'no' : ms(j.meshMs),
        `${num(j.cpuSeconds)} s`,
        `${num(j.restCpuSeconds)} s`,
        j.connections === null ? '—' : `${j.connections} (${(n * (n - 1)) / 2})`,
      ],
    ]),
  )
  if (j.keptDir !== null) print(`   data directories of the join run kept in ${j.keptDir}`)
}

function printRtt(r: RttResult): void {
  print()
  print(
    `2. Round trips on loopback, one process, ${r.samples} samples after warm-up, ${r.messageBytes}-byte messages`,
  )
  const raw = r.rawTcp
  const row = (name: string, p: Percentiles): string[] => [
    name,
    ms(p.p50),
    ms(p.p99),
    ms(p.max),
    p === raw ? '1.0×' : `${num(p.p50 / raw.p50)}×`,
    p === raw ? '1.0×' : `${num(p.p99 / raw.p99)}×`,
    p === raw ? '—' : ms(p.p50 - raw.p50),
  ]
  print(
    table([
      ['path', 'p50', 'p99', 'max', 'p50 vs raw', 'p99 vs raw', 'overhead p50'],
      row('raw TCP, open socket (baseline)', raw),
      row('libp2p, one open stream', r.openStream),
      row('libp2p, new stream per request (InfoProtocol)', r.newStream),
    ]),
  )
  const limit = TARGETS.streamOverheadP50Ms
  const verdict = (p: Percentiles): string =>
    `${ms(p.p50 - raw.p50)} (${p.p50 - raw.p50 < limit ? 'met' : 'missed'})`
  print(
    `   target: stream overhead below ${ms(limit)} p50: open stream ${verdict(r.openStream)}, new stream ${verdict(r.newStream)}`,
  )
}

function printGossip(g: GossipResult): void {
  print()
  print(
    `3. Gossipsub: ${g.peers} peers in one process, degree ${g.topology.minDegree}-${g.topology.maxDegree}, ` +
      `diameter ${g.topology.diameterHops} hops, ${num(g.topology.meshPeersMean)} mesh peers on average; ` +
      `mesh formed ${ms(g.meshFormedMs)} after the first dial`,
  )
  print(
    table([
      ['messages', 'size', 'delivered', 'p50', 'p99', 'max', 'mean'],
      [
        String(g.messages),
        `${g.messageBytes} B`,
        `${g.delivered}/${g.expected}`,
        ms(g.latencyMs.p50),
        ms(g.latencyMs.p99),
        ms(g.latencyMs.max),
        ms(g.latencyMs.mean),
      ],
    ]),
  )
}

function printConnCost(c: ConnCostResult): void {
  const { library, cordex } = c.x25519PerHandshakeMs
  print()
  print(
    `4. What a connection costs in CPU: ${c.connections} connections made in one process, both ends counted`,
  )
  print(
    table([
      ['measure', 'CPU'],
      ["one connection: Noise, Yamux, identify, the services' first streams", ms(c.cpuPerConnectionMs)],
      ["X25519 work of one Noise handshake, the library's crypto (baseline)", ms(library)],
      [
        "the same, the daemon's crypto (src/node/noiseCrypto.ts)",
        `${ms(cordex)} (${num(cordex / library)}×)`,
      ],
    ]),
  )
  print(`   a forming mesh of n daemons makes at least n(n-1)/2 connections (190 for 20)`)
}

// Ctrl-C (or a kill) stops the daemons before the benchmark goes; a second one exits at once, and
// the 'exit' hook then SIGKILLs whatever is left.
let interrupted = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) process.exit(signal === 'SIGINT' ? 130 : 143)
    interrupted = true
    progress(`${signal}: stopping the daemons`)
    void stopAllDaemons().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143))
  })
}
process.on('exit', () => killAllDaemons())

main().then(
  (code) => {
    process.exitCode = code
  },
  async (err: unknown) => {
    progress(`failed: ${(err as Error).stack ?? String(err)}`)
    await stopAllDaemons()
    process.exitCode = 1
  },
)
