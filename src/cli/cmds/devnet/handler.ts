import { resolve } from 'node:path'
import { exitWithParent } from '../../../util/parentWatch.js'
import { mkdir } from 'node:fs/promises'
import { readApiToken, type StatusView } from '../../../node/index.js'
import { callDaemon } from '../../client.js'
import { CliError } from '../../errors.js'
import { ExitCode } from '../../exitCodes.js'
import { prepareDevnet } from './prepare.js'
import { Supervisor } from './supervisor.js'
import { render, allConnected, type PeerState } from './view.js'
import type { DevnetArgs } from './options.js'

const POLL_MS = 500

/**
 * `cordex devnet`: initialize and run N daemons on loopback, peer 0 the bootstrap of the others;
 * show a live view until every peer sees every other; keep running until Ctrl-C or SIGTERM, then
 * stop every daemon cleanly (a second signal kills them at once).
 */
export async function devnetHandler(args: DevnetArgs): Promise<void> {
  if (!Number.isInteger(args.peers) || args.peers < 1 || args.peers > 64) {
    throw new CliError(ExitCode.USAGE, 'BAD_PEERS', '--peers must be an integer from 1 to 64')
  }
  const supervisor = new Supervisor()
  const stopped = new Promise<NodeJS.Signals>((done) => {
    let signals = 0
    const onSignal = (signal: NodeJS.Signals): void => {
      if (++signals > 1) {
        supervisor.kill()
        process.exit(signal === 'SIGINT' ? 130 : 143)
      }
      done(signal)
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    exitWithParent(() => onSignal('SIGTERM'))
  })
  let stopSignal: NodeJS.Signals | undefined
  void stopped.then((s) => (stopSignal = s))

  const baseDir = resolve(args.baseDir)
  await mkdir(baseDir, { recursive: true, mode: 0o700 })
  const peers = await prepareDevnet(baseDir, args.peers, args.api)
  const states: PeerState[] = []
  for (const peer of peers) {
    if (stopSignal !== undefined) break
    const child = supervisor.spawn(peer)
    if (child !== undefined) states.push({ child })
  }

  const out = new LiveOutput(args.json)
  out.line(`devnet: ${args.peers} peers in ${baseDir} (logs in peer-<i>/daemon.log); Ctrl-C stops them`)
  const startedAt = Date.now()
  let ready = false
  while (stopSignal === undefined) {
    await Promise.all(states.map((s) => poll(s)))
    if (!ready && allConnected(states)) {
      ready = true
      out.view(render(states))
      out.event({
        event: 'ready',
        seconds: (Date.now() - startedAt) / 1000,
        peers: states.map((s) => s.status),
      })
      out.line(
        `devnet ready: every peer sees the ${args.peers - 1} others (${((Date.now() - startedAt) / 1000).toFixed(1)} s)`,
      )
      // The TCP listener wants its peer's token (e.g. an OpenAI client's apiKey); say where it is.
      for (const s of states) {
        if (s.status?.apiUrl != null) {
          out.line(
            `peer-${s.child.peer.index} API ${s.status.apiUrl} (bearer token in ${s.status.apiTokenFile})`,
          )
          out.line(`peer-${s.child.peer.index} status page ${await statusPageUrl(s.status)}`)
        }
      }
    } else {
      out.view(render(states))
    }
    if (supervisor.running().length === 0) break
    await Promise.race([sleep(ready ? POLL_MS * 4 : POLL_MS), stopped])
  }

  out.line('devnet: stopping all peers')
  await supervisor.stop()
  out.event({ event: 'stopped' })
  out.line('devnet: stopped')
  if (stopSignal === undefined) {
    throw new CliError(ExitCode.ERROR, 'DEVNET_DIED', 'every daemon exited; see peer-<i>/daemon.log')
  }
}

/**
 * The status page's address with the token in its fragment, which the browser keeps to itself
 * (the page moves it to the tab's storage); without the token when it cannot be read.
 */
async function statusPageUrl(status: StatusView): Promise<string> {
  const token = await readApiToken(status.dataDir).catch(() => null)
  return token === null ? `${status.apiUrl}/` : `${status.apiUrl}/#token=${encodeURIComponent(token)}`
}

async function poll(state: PeerState): Promise<void> {
  if (state.child.exit !== undefined) return
  try {
    state.status = await callDaemon<StatusView>(state.child.peer.dataDir, '/status', { timeoutMs: 2000 })
  } catch {
    // Not up yet, or busy: keep the last known status.
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref())
}

/**
 * Output for people (a table redrawn in place on a terminal, printed on change otherwise) or, with
 * --json, one JSON object per line for each event.
 */
class LiveOutput {
  private lastView = ''
  private drawnLines = 0
  private readonly tty = process.stdout.isTTY === true

  constructor(private readonly json: boolean) {}

  line(text: string): void {
    if (this.json) return
    this.drawnLines = 0
    process.stdout.write(`${text}\n`)
  }

  view(text: string): void {
    if (this.json || text === this.lastView) return
    this.lastView = text
    if (this.tty && this.drawnLines > 0) process.stdout.write(`\x1b[${this.drawnLines}A\x1b[J`)
    process.stdout.write(`${text}\n`)
    this.drawnLines = text.split('\n').length
  }

  event(value: object): void {
    if (this.json) process.stdout.write(`${JSON.stringify(value)}\n`)
  }
}
