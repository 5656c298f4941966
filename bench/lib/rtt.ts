import '../../src/polyfill.js'
import net from 'node:net'
import { once } from 'node:events'
import { lpStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { InfoProtocol } from '../../src/protocols/index.js'
import { silentLogger } from '../../src/util/logger.js'
import { VERSION } from '../../src/version.js'
import type { CordexLibp2p } from '../../src/node/libp2p.js'
import { connect, devnetConfig, startNodes, stopNodes } from './nodes.js'
import { progress } from './report.js'
import { summarize, type Percentiles } from './stats.js'

export interface RttOptions {
  samples: number
  warmup: number
  /** Size of the echoed message (raw TCP and the open libp2p stream). */
  messageBytes: number
}

export interface RttResult {
  samples: number
  messageBytes: number
  /** Baseline: an already-open loopback TCP socket to an echo server. */
  rawTcp: Percentiles
  /** One already-open libp2p stream (Noise + Yamux), length-prefixed echo. */
  openStream: Percentiles
  /** InfoProtocol.query: a new stream per request (the way every Cordex request goes). */
  newStream: Percentiles
}

const ECHO_PROTOCOL = '/bench/echo/1.0.0'

/**
 * Round trips on loopback, all in this one process so that each figure pays for both ends on the
 * same event loop: raw TCP first as the floor, then libp2p over an open stream, then libp2p with a
 * stream opened per request through the project's InfoProtocol.
 */
export async function runRtt(opts: RttOptions): Promise<RttResult> {
  const message = new Uint8Array(opts.messageBytes).fill(0x2a)
  progress(`round trips: raw TCP ×${opts.samples}`)
  const rawTcp = await rawTcpRtt(message, opts)

  // The devnet config as it is: the DHT self-query and the connection monitor's pings run in the
  // background as they would in a daemon, and show in the tail (p99) rather than in p50.
  const config = devnetConfig()
  const nodes = await startNodes(2, config)
  try {
    const [a, b] = nodes as [CordexLibp2p, CordexLibp2p]
    await connect(a, b)
    progress(`round trips: open libp2p stream ×${opts.samples}`)
    const openStream = await openStreamRtt(a, b, message, opts)
    progress(`round trips: new stream per request (InfoProtocol) ×${opts.samples}`)
    const newStream = await newStreamRtt(a, b, config, opts)
    return { samples: opts.samples, messageBytes: opts.messageBytes, rawTcp, openStream, newStream }
  } finally {
    await stopNodes(nodes)
  }
}

/** Time `warmup` unrecorded, then `samples` recorded sequential calls of `roundTrip`. */
async function sample(opts: RttOptions, roundTrip: () => Promise<void>): Promise<Percentiles> {
  for (let i = 0; i < opts.warmup; i++) await roundTrip()
  const times: number[] = []
  for (let i = 0; i < opts.samples; i++) {
    const t = performance.now()
    await roundTrip()
    times.push(performance.now() - t)
  }
  return summarize(times)
}

async function rawTcpRtt(message: Uint8Array, opts: RttOptions): Promise<Percentiles> {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true)
    socket.on('data', (chunk) => socket.write(chunk))
    socket.on('error', () => {})
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  const client = net.connect(port, '127.0.0.1')
  client.setNoDelay(true)
  await once(client, 'connect')
  try {
    // TCP is a byte stream: a message is back once as many bytes as were sent have arrived.
    let received = 0
    let wake: (() => void) | undefined
    client.on('data', (chunk: Buffer) => {
      received += chunk.length
      if (received >= message.length) wake?.()
    })
    return await sample(opts, async () => {
      received = 0
      const back = new Promise<void>((resolve) => (wake = resolve))
      client.write(message)
      await back
    })
  } finally {
    client.destroy()
    server.close()
  }
}

async function openStreamRtt(
  a: CordexLibp2p,
  b: CordexLibp2p,
  message: Uint8Array,
  opts: RttOptions,
): Promise<Percentiles> {
  // Echo every length-prefixed frame back until the other side closes.
  await b.handle(ECHO_PROTOCOL, async (stream: Stream) => {
    const lp = lpStream(stream)
    try {
      for (;;) await lp.write(await lp.read())
    } catch {
      // A clean close ends read() with UnexpectedEOFError.
    }
    await stream.close().catch(() => {})
  })
  const stream = await a.dialProtocol(b.peerId, ECHO_PROTOCOL)
  const lp = lpStream(stream)
  try {
    return await sample(opts, async () => {
      await lp.write(message)
      const reply = await lp.read()
      if (reply.byteLength !== message.length) throw new Error(`echo returned ${reply.byteLength} bytes`)
    })
  } finally {
    await stream.close().catch(() => {})
    await b.unhandle(ECHO_PROTOCOL)
  }
}

async function newStreamRtt(
  a: CordexLibp2p,
  b: CordexLibp2p,
  config: ReturnType<typeof devnetConfig>,
  opts: RttOptions,
): Promise<Percentiles> {
  const startedAt = performance.now()
  const limits = {
    maxFrameBytes: config.protocols.maxFrameBytes,
    timeoutMs: config.protocols.streamTimeoutMs,
    maxInboundStreams: config.protocols.maxInboundStreams,
  }
  const info = (node: CordexLibp2p): InfoProtocol =>
    new InfoProtocol(
      {
        node,
        log: silentLogger(),
        localInfo: () => ({
          network: config.network,
          version: VERSION,
          uptimeMs: Math.round(performance.now() - startedAt),
        }),
      },
      config.network,
      limits,
    )
  const client = info(a)
  const server = info(b)
  await server.start()
  try {
    return await sample(opts, async () => {
      await client.query(b.peerId)
    })
  } finally {
    await server.stop()
  }
}
