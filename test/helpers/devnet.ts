import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
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

/** Start `cordex devnet --json` with `peers` daemons under `base` and wait for its ready event. */
export async function startDevnet(base: string, peers: number, extra: string[] = []): Promise<RunningDevnet> {
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
