import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { callDaemon } from '../../src/cli/client.js'
import type { PeerView } from '../../src/node/api/routes/peers.js'
import type { StatusJson } from './daemon.js'
import { CORDEX, waitFor, exited } from './cli.js'

export interface RunningDevnet {
  proc: ChildProcess
  /** The statuses `cordex devnet --json` printed once every peer saw every other. */
  peers: StatusJson[]
  stop(): Promise<void>
}

/**
 * The share of time a test devnet's Race workers idle (`raceWorker.throttle`). A devnet's daemons
 * share this machine's two cores: at full speed, four or five Race workers (each running
 * onnxruntime on every core) take both cores for the whole Race of every epoch, and everything
 * else a test waits for (blocks, tasks, audits) crawls meanwhile. Throttled, they still race and
 * earn weight; the Race's own tests (race.test.ts) pass `raceThrottle: 0`.
 */
export const TEST_RACE_THROTTLE = 0.9

/**
 * Start `cordex devnet --json` with `peers` daemons under `base` and wait for its ready event.
 * Peers whose config.json (written before, if at all) sets no `raceWorker` race at
 * `opts.raceThrottle` (default TEST_RACE_THROTTLE).
 */
export async function startDevnet(
  base: string,
  peers: number,
  extra: string[] = [],
  opts: { raceThrottle?: number } = {},
): Promise<RunningDevnet> {
  const throttle = opts.raceThrottle ?? TEST_RACE_THROTTLE
  for (let i = 0; i < peers; i++) {
    const dir = join(base, `peer-${i}`)
    const config = readPeerConfig(dir)
    if (config.raceWorker === undefined) writePeerConfig(dir, { ...config, raceWorker: { throttle } })
  }
  const proc = spawn(
    process.execPath,
    [CORDEX, 'devnet', '--peers', String(peers), '--base-dir', base, '--json', ...extra],
    // A test file killed on its timeout leaves no devnet running (its daemons follow).
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CORDEX_EXIT_WITH_PARENT: '1' } },
  )
  let out = ''
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()))
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
    await exited(proc)
  }
  try {
    const ready = await waitFor(
      'devnet ready',
      async () => {
        if (proc.exitCode !== null) throw new Error(`devnet exited ${proc.exitCode}`)
        const line = out.split('\n').find((l) => l.includes('"event":"ready"'))
        return line === undefined ? undefined : (JSON.parse(line) as { peers: StatusJson[] })
      },
      60_000,
    )
    return { proc, peers: ready.peers, stop }
  } catch (err) {
    // What the next person needs to find why (CI keeps nothing else): who sees whom, and what each
    // daemon logged at warn and above.
    process.stderr.write(`devnet not ready; peers as they stand:\n${await diagnose(base, peers)}\n`)
    await stop()
    throw err
  }
}

/** The config.json in `dataDir` as it stands; `{ network: 'devnet' }` when there is none yet. */
export function readPeerConfig(dataDir: string): Record<string, unknown> {
  const file = join(dataDir, 'config.json')
  return existsSync(file)
    ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>)
    : { network: 'devnet' }
}

/** Write `config` as the config.json of `dataDir`, making the directory if need be. */
export function writePeerConfig(dataDir: string, config: Record<string, unknown>): void {
  mkdirSync(dataDir, { recursive: true })
  writeFileSync(join(dataDir, 'config.json'), JSON.stringify(config))
}

/** Who each peer of the devnet under `base` is connected to, and each daemon's last warnings. */
export async function diagnose(base: string, peers: number): Promise<string> {
  const lines: string[] = []
  for (let i = 0; i < peers; i++) {
    const dataDir = join(base, `peer-${i}`)
    const seen = await callDaemon<PeerView[]>(dataDir, '/peers', { timeoutMs: 2000 }).then(
      (v) => v.map((p) => `${p.peerId.slice(-6)} (${p.direction})`).join(', '),
      (e: Error) => `no answer: ${e.message}`,
    )
    lines.push(`peer-${i}: connected to ${seen}`)
    const log = join(dataDir, 'daemon.log')
    const warnings = existsSync(log)
      ? readFileSync(log, 'utf8')
          .split('\n')
          .filter((l) => /"level":(4|5|6)\d/.test(l))
      : []
    for (const l of warnings.slice(-15)) lines.push(`  ${l.slice(0, 400)}`)
  }
  return lines.join('\n')
}
