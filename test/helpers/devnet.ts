import { spawn, type ChildProcess } from 'node:child_process'
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
    await stop()
    throw err
  }
}
