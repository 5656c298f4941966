import { spawn, type ChildProcess } from 'node:child_process'
import http from 'node:http'
import { join } from 'node:path'
import { CORDEX, cordexJson, waitFor, exited } from './cli.js'
import { readApiToken } from '../../src/node/apiToken.js'

export interface StatusJson {
  peerId: string
  pid: number
  network: string
  addrs: string[]
  peers: number
  socket: string
  apiUrl: string | null
  apiTokenFile: string
  routingTableSize: number
}

export interface PeerJson {
  peerId: string
  addrs: string[]
  latencyMs: number | null
}

/** One real `cordex daemon` child process on a data directory. */
export class TestDaemon {
  proc: ChildProcess | undefined
  output = ''

  constructor(readonly dataDir: string) {}

  static async init(dataDir: string, args: string[] = []): Promise<{ daemon: TestDaemon; peerId: string }> {
    const { peerId } = await cordexJson<{ peerId: string }>(['init', '--data-dir', dataDir, ...args])
    return { daemon: new TestDaemon(dataDir), peerId }
  }

  /** Spawn the daemon (without waiting for it). */
  spawn(args: string[] = []): ChildProcess {
    this.output = ''
    const proc = spawn(process.execPath, [CORDEX, 'daemon', '--data-dir', this.dataDir, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // A test file killed on its timeout leaves no daemon running.
      env: { ...process.env, CORDEX_EXIT_WITH_PARENT: '1' },
    })
    proc.stdout?.on('data', (d: Buffer) => (this.output += d.toString()))
    proc.stderr?.on('data', (d: Buffer) => (this.output += d.toString()))
    this.proc = proc
    return proc
  }

  /**
   * Spawn and wait until its socket answers /status (asked over the socket from this process: a
   * `cordex status` process per poll would load the machine while several daemons start).
   */
  async start(args: string[] = []): Promise<StatusJson> {
    const proc = this.spawn(args)
    return waitFor(`daemon on ${this.dataDir}`, async () => {
      if (proc.exitCode !== null) throw new Error(`daemon exited ${proc.exitCode}: ${this.output}`)
      const r = await this.get<StatusJson>('/status')
      return r.status === 200 ? r.body : undefined
    })
  }

  status(): Promise<StatusJson> {
    return cordexJson<StatusJson>(['status', '--data-dir', this.dataDir])
  }

  peers(): Promise<PeerJson[]> {
    return cordexJson<PeerJson[]>(['peers', '--data-dir', this.dataDir])
  }

  /** Send a signal and wait for the process to exit. */
  async stop(
    signal: NodeJS.Signals = 'SIGTERM',
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const proc = this.proc
    if (proc === undefined) return { code: null, signal: null }
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal)
    const result = await exited(proc)
    this.proc = undefined
    return result
  }

  get socket(): string {
    return join(this.dataDir, 'cordex.sock')
  }

  /** The bearer token its TCP listener requires. */
  apiToken(): Promise<string> {
    return readApiToken(this.dataDir)
  }

  /** GET a path on the control socket; returns status and parsed body. */
  get<T = unknown>(path: string): Promise<{ status: number; body: T }> {
    return this.request<T>('GET', path)
  }

  /** POST a JSON body (or none) to a path on the control socket; returns status and parsed body. */
  post<T = unknown>(path: string, body?: unknown): Promise<{ status: number; body: T }> {
    return this.request<T>('POST', path, body)
  }

  private request<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' }
      http
        .request({ socketPath: this.socket, path, method, headers, timeout: 30_000 }, (res) => {
          let data = ''
          res.on('data', (d: Buffer) => (data += d.toString()))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(data) as T }))
        })
        .on('error', reject)
        .end(body === undefined ? undefined : JSON.stringify(body))
    })
  }
}

/** `id`'s balance as `daemon` sees it, base units. */
export async function balanceOn(daemon: TestDaemon, id: string): Promise<bigint> {
  return BigInt((await daemon.get<{ balance: string }>(`/accounts/${id}`)).body.balance)
}

/**
 * `id`'s balance once earlier tasks have settled: unchanged over six new blocks on `daemon` (a
 * receipt can trail its answer by a few blocks when verifiers' replays load the machine).
 */
export async function settledBalanceOn(daemon: TestDaemon, id: string): Promise<bigint> {
  const height = async (): Promise<number> =>
    (await daemon.get<{ height: number }>('/ledger/head')).body.height
  for (;;) {
    const b = await balanceOn(daemon, id)
    const h = await height()
    await waitFor('six blocks', async () => ((await height()) >= h + 6 ? true : undefined))
    if ((await balanceOn(daemon, id)) === b) return b
  }
}

/** Wait until `gateway` lists `hosts` hosts of its first model (`GET /v1/models`), within 60 s. */
export async function waitForHosts(gateway: TestDaemon, hosts: number): Promise<void> {
  await waitFor(
    hosts === 1 ? 'the host of the model' : `${hosts} hosts of the model`,
    async () => {
      const m = (await gateway.get<{ data: Array<{ cordex: { hosts: number } }> }>('/v1/models')).body
      return m.data[0]?.cordex.hosts === hosts ? true : undefined
    },
    60_000,
  )
}
