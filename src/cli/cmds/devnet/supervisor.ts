import { spawn, type ChildProcess } from 'node:child_process'
import { openSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import { PACKAGE_ROOT } from '../../../version.js'
import type { DevnetPeer } from './prepare.js'

export interface Child {
  peer: DevnetPeer
  proc: ChildProcess
  /** Exit code or signal once the process has ended. */
  exit?: { code: number | null; signal: NodeJS.Signals | null }
}

const CORDEX_BIN = join(PACKAGE_ROOT, 'bin', 'cordex')

/**
 * Runs the devnet's daemons as child processes. Each child has an IPC channel to this process and
 * stops by itself when that channel closes, so even a supervisor killed with SIGKILL leaves no
 * daemon behind. Logs go to `<dataDir>/daemon.log`.
 */
export class Supervisor {
  readonly children: Child[] = []
  private stopping = false

  spawn(peer: DevnetPeer): Child | undefined {
    if (this.stopping) return undefined
    const log = openSync(join(peer.dataDir, 'daemon.log'), 'a', 0o600)
    const proc = spawn(process.execPath, [CORDEX_BIN, 'daemon', '--data-dir', peer.dataDir], {
      stdio: ['ignore', log, log, 'ipc'],
    })
    closeSync(log)
    const child: Child = { peer, proc }
    proc.on('exit', (code, signal) => (child.exit = { code, signal }))
    // The IPC channel exists only to tie the child's life to ours.
    proc.on('error', () => {})
    this.children.push(child)
    return child
  }

  running(): Child[] {
    return this.children.filter((c) => c.exit === undefined)
  }

  /** SIGTERM every child, wait up to `graceMs`, then SIGKILL the rest. */
  async stop(graceMs = 15_000): Promise<void> {
    this.stopping = true
    const live = this.running()
    for (const c of live) c.proc.kill('SIGTERM')
    const timer = setTimeout(() => this.kill(), graceMs)
    await Promise.all(live.map((c) => exited(c)))
    clearTimeout(timer)
  }

  /** SIGKILL every child now (a second Ctrl-C). */
  kill(): void {
    this.stopping = true
    for (const c of this.running()) c.proc.kill('SIGKILL')
  }
}

function exited(c: Child): Promise<void> {
  return c.exit !== undefined
    ? Promise.resolve()
    : new Promise((resolve) => c.proc.once('exit', () => resolve()))
}
