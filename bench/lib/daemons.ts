import { spawn, execFile, type ChildProcess } from 'node:child_process'
import http from 'node:http'
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sleep } from './stats.js'

/** Repository root (this file runs from dist/bench/lib). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
export const CORDEX = join(ROOT, 'bin', 'cordex')

/** The fields of `GET /status` the benchmark reads. */
export interface StatusView {
  peerId: string
  pid: number
  addrs: string[]
  peers: number
  routingTableSize: number
  socket: string
}

/** The fields of one element of `GET /peers` the benchmark reads. */
export interface PeerView {
  peerId: string
  addrs: string[]
  latencyMs: number | null
}

export interface HttpReply<T> {
  status: number
  body: T
}

/** Every daemon process this benchmark started and that has not exited yet. */
const live = new Set<DaemonProcess>()

/** On Ctrl-C or an error: SIGTERM every daemon still running and wait for it (SIGKILL after `graceMs`). */
export async function stopAllDaemons(graceMs = 5_000): Promise<number> {
  const running = [...live]
  await Promise.all(running.map((d) => d.stop(graceMs)))
  return running.length
}

/**
 * Last resort from a process 'exit' handler, where nothing asynchronous runs any more: SIGKILL
 * whatever is still running.
 */
export function killAllDaemons(): number {
  let killed = 0
  for (const d of live) {
    if (d.running) {
      d.proc?.kill('SIGKILL')
      killed++
    }
  }
  return killed
}

/**
 * `cordex init --data-dir DIR --json`; returns the new peer id. The daemon's Race worker is turned
 * off in its config.json: each lone devnet daemon would otherwise race its own chain every epoch,
 * and this benchmark measures the network, not the Race (which has bench:race).
 */
export async function initDataDir(dataDir: string): Promise<string> {
  const peerId = await runInit(dataDir)
  const file = join(dataDir, 'config.json')
  const config = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
  writeFileSync(file, JSON.stringify({ ...config, raceWorker: { enabled: false } }))
  return peerId
}

function runInit(dataDir: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CORDEX, 'init', '--data-dir', dataDir, '--json'],
      { timeout: 60_000 },
      (err, stdout, stderr) => {
        if (err !== null) return reject(new Error(`cordex init ${dataDir} failed: ${err.message}\n${stderr}`))
        try {
          resolve((JSON.parse(stdout) as { peerId: string }).peerId)
        } catch {
          reject(new Error(`cordex init ${dataDir} printed no JSON: ${stdout}`))
        }
      },
    )
  })
}

/**
 * CPU time (user + system) process `pid` has used so far, in seconds, from /proc/<pid>/stat (Linux
 * only; clock ticks are USER_HZ, 100 on every mainstream kernel); undefined if it cannot be read.
 */
export function cpuSecondsOf(pid: number): number | undefined {
  try {
    // Fields after the parenthesised command name (which may itself contain spaces).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // utime and stime are fields 14 and 15 of the whole line, 12th and 13th after the name.
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return undefined
  }
}

/**
 * One `cordex daemon` child process. Its JSON log lines (stdout and stderr) go to daemon.log in its
 * data directory, where they can be read after a failed run. It also gets an IPC channel: the
 * daemon stops by itself when that channel closes, so even a benchmark killed with SIGKILL leaves
 * no daemon behind.
 */
export class DaemonProcess {
  proc: ChildProcess | undefined
  /** performance.now() at spawn, at the first answer of its control socket, and at exit. */
  spawnedAt = Number.NaN
  readyAt = Number.NaN
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined

  constructor(
    readonly index: number,
    readonly dataDir: string,
    readonly peerId: string,
  ) {}

  get socket(): string {
    return join(this.dataDir, 'cordex.sock')
  }

  get logFile(): string {
    return join(this.dataDir, 'daemon.log')
  }

  get running(): boolean {
    return this.proc !== undefined && this.exit === undefined
  }

  spawn(args: string[] = []): void {
    const log = openSync(this.logFile, 'a')
    try {
      // BENCH_CPU_PROF=1: each daemon writes a V8 CPU profile into <data dir>/prof when it exits.
      const prof =
        process.env.BENCH_CPU_PROF === '1' ? ['--cpu-prof', '--cpu-prof-dir', join(this.dataDir, 'prof')] : []
      const proc = spawn(process.execPath, [...prof, CORDEX, 'daemon', '--data-dir', this.dataDir, ...args], {
        stdio: ['ignore', log, log, 'ipc'],
      })
      this.proc = proc
      this.spawnedAt = performance.now()
      live.add(this)
      proc.on('exit', (code, signal) => {
        this.exit = { code, signal }
        live.delete(this)
      })
    } finally {
      // The child holds its own copy of the descriptor.
      closeSync(log)
    }
  }

  /** GET `path` on the control socket; rejects on a socket error or after `timeoutMs`. */
  get<T>(path: string, timeoutMs = 15_000): Promise<HttpReply<T>> {
    return new Promise((resolve, reject) => {
      // agent: false: a fresh connection per request, so no pooled socket outlives a daemon.
      const req = http.get({ socketPath: this.socket, path, agent: false, timeout: timeoutMs }, (res) => {
        let data = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => (data += d))
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(data) as T })
          } catch (err) {
            reject(err)
          }
        })
        res.on('error', reject)
      })
      req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out after ${timeoutMs} ms`)))
      req.on('error', reject)
    })
  }

  async status(): Promise<StatusView> {
    const r = await this.get<StatusView>('/status', 5_000)
    if (r.status !== 200) throw new Error(`GET /status answered ${r.status}`)
    return r.body
  }

  /** Poll /status until the socket answers; sets readyAt. Throws if the daemon exits or `deadline` passes. */
  async waitReady(deadline: number, pollMs = 100): Promise<StatusView> {
    for (;;) {
      if (this.exit !== undefined) {
        throw new Error(
          `daemon p${this.index} exited (${JSON.stringify(this.exit)}) before it was ready: ${this.logTail(5)}`,
        )
      }
      try {
        const status = await this.status()
        this.readyAt = performance.now()
        return status
      } catch {
        // Not listening yet (ENOENT / ECONNREFUSED).
      }
      if (performance.now() > deadline)
        throw new Error(`daemon p${this.index} not ready in time: ${this.logTail(5)}`)
      await sleep(pollMs)
    }
  }

  /** Resident set size in MiB, from /proc (Linux only); undefined if it cannot be read. */
  rssMiB(): number | undefined {
    const pid = this.proc?.pid
    if (pid === undefined || !this.running) return undefined
    try {
      const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
      return m?.[1] !== undefined ? Number(m[1]) / 1024 : undefined
    } catch {
      return undefined
    }
  }

  /** CPU time (user + system) the process has used so far, in seconds (see `cpuSecondsOf`). */
  cpuSeconds(): number | undefined {
    const pid = this.proc?.pid
    if (pid === undefined || !this.running) return undefined
    return cpuSecondsOf(pid)
  }

  /** SIGTERM, then wait for exit; SIGKILL after `graceMs`. Returns how it ended. */
  async stop(
    graceMs = 10_000,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }> {
    const proc = this.proc
    if (proc === undefined) return { code: null, signal: null, killed: false }
    const exited = new Promise<void>((resolve) => {
      if (this.exit !== undefined) resolve()
      else proc.once('exit', () => resolve())
    })
    if (this.exit === undefined) proc.kill('SIGTERM')
    let killed = false
    const timer = setTimeout(() => {
      killed = true
      proc.kill('SIGKILL')
    }, graceMs)
    await exited
    clearTimeout(timer)
    return { code: this.exit?.code ?? null, signal: this.exit?.signal ?? null, killed }
  }

  /** The last `lines` log lines at warn level or above (pino levels: 40 warn, 50 error, 60 fatal). */
  logTail(lines: number, minLevel = 40): string {
    let text: string
    try {
      text = readFileSync(this.logFile, 'utf8')
    } catch {
      return '(no log)'
    }
    const picked = text
      .split('\n')
      .filter((l) => {
        if (l.trim() === '') return false
        try {
          return ((JSON.parse(l) as { level?: number }).level ?? 0) >= minLevel
        } catch {
          return true // not JSON: a crash trace on stderr, always worth seeing
        }
      })
      .slice(-lines)
    return picked.length > 0 ? picked.join('\n') : '(nothing at warn or above)'
  }
}

/** Polls `check` every 250 ms until it gives a value (a throw counts as "not yet"); throws after `ms`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  ms = 120_000,
): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined) return v
    } catch {
      // not yet
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

/**
 * The configs of a two-peer devnet under `base`: peer 0 a gateway without an engine (and no
 * transaction fee), peer 1 an executor with the default model; Race workers off, logs at warn;
 * `both` adds to both configs.
 */
export function writeGatewayExecutor(base: string, both: Record<string, unknown> = {}): void {
  for (const [i, extra] of [
    [0, { engine: { enabled: false }, genesis: { params: { minTxFee: '0' } } }],
    [1, {}],
  ] as const) {
    mkdirSync(join(base, `peer-${i}`), { recursive: true })
    writeFileSync(
      join(base, `peer-${i}`, 'config.json'),
      JSON.stringify({
        network: 'devnet',
        raceWorker: { enabled: false },
        log: { level: 'warn' },
        ...both,
        ...extra,
      }),
    )
  }
}
