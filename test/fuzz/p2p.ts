import '../../src/polyfill.js'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId, Stream } from '@libp2p/interface'
import { MemoryDatastore } from 'datastore-core'
import { buildLibp2p, type CordexLibp2p } from '../../src/node/libp2p.js'
import { loadConfig } from '../../src/node/config/index.js'
import { type Rng, varint, concat, randomBytes, equalBytes } from './gen.js'
import { sleep } from './harness.js'

// Real libp2p nodes in one process (TCP on loopback, Noise, Yamux), and a raw stream client that
// behaves as a hostile peer would: random frames, lying length prefixes, a byte at a time, silence.

export interface Nodes {
  nodes: CordexLibp2p[]
  stop(): Promise<void>
}

/** Start `count` devnet libp2p nodes, each dialled by every later one. */
export async function startNodes(count: number): Promise<Nodes> {
  const dir = mkdtempSync(join(tmpdir(), 'cx-fz-'))
  const config = loadConfig({ dataDir: dir, network: 'devnet' })
  const nodes: CordexLibp2p[] = []
  for (let i = 0; i < count; i++) {
    const n = await buildLibp2p(
      { privateKey: await generateKeyPair('Ed25519'), datastore: new MemoryDatastore() },
      config,
    )
    await n.start()
    for (const other of nodes) await n.dial(other.getMultiaddrs()[0]!)
    nodes.push(n)
  }
  return {
    nodes,
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()))
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/**
 * Wait until `from` reaches `to` over a connection that carries streams (`fresh`: a new one).
 * Right after a connection opens, libp2p may still reset the streams it carries: a ping says when.
 */
export async function ready(from: CordexLibp2p, to: CordexLibp2p, fresh = false): Promise<void> {
  if (fresh) await from.hangUp(to.peerId).catch(() => {})
  for (let i = 0; i < 50; i++) {
    try {
      await from.dial(to.getMultiaddrs()[0]!)
      await from.services.ping.ping(to.peerId, { signal: AbortSignal.timeout(2000) })
      return
    } catch {
      await sleep(100)
    }
  }
  throw new Error(`${from.peerId} cannot reach ${to.peerId}`)
}

/** What a hostile client does on a stream. */
export interface Behaviour {
  /** For the report: what was sent. */
  what: string
  /** The bytes that make up the input (for the report and for shrinking by hand). */
  bytes: Uint8Array
  /** The request payload if the bytes are one whole frame, else undefined. */
  payload?: Uint8Array
  /** True when the sender stops without closing: only the server's deadline can end the stream. */
  stalls: boolean
  send(stream: Stream): Promise<void>
}

/** Send bytes, waiting for the stream to drain when its buffer is full; false if the stream is gone. */
export async function write(stream: Stream, data: Uint8Array): Promise<boolean> {
  try {
    if (!stream.send(data)) await stream.onDrain({ signal: AbortSignal.timeout(5000) })
    return true
  } catch {
    return false
  }
}

async function closeWrite(stream: Stream): Promise<void> {
  await stream.close({ signal: AbortSignal.timeout(5000) }).catch(() => {})
}

export function frame(payload: Uint8Array): Uint8Array {
  return concat(varint(payload.length), payload)
}

/**
 * A hostile sender for a request/response protocol. `payload` is the generated request body;
 * `maxFrame` the server's frame limit.
 */
export function behaviour(rng: Rng, payload: Uint8Array, maxFrame: number): Behaviour {
  const r = rng.int(100)
  // `first`: the sender's first frame is whole (the server reads only that one).
  const simple = (what: string, bytes: Uint8Array, close = true, first = false): Behaviour => ({
    what,
    bytes,
    payload: first ? payload : undefined,
    stalls: !close,
    send: async (s) => {
      if (bytes.length > 0 && !(await write(s, bytes))) return
      if (close) await closeWrite(s)
    },
  })
  if (r < 55) return simple('one frame', frame(payload), true, true)
  if (r < 63) return simple('raw bytes', randomBytes(rng, 2048))
  if (r < 71) {
    // A length prefix over the limit, of every width up to a 10-byte varint, or one that never ends.
    const prefix = rng.pick([
      varint(maxFrame + 1),
      varint(2 ** 31),
      varint(2 ** 53),
      varint(2n ** 64n - 1n),
      new Uint8Array(rng.pick([11, 64, 4096])).fill(0xff),
    ])
    return simple('an oversized length prefix', concat(prefix, randomBytes(rng, 64)), rng.chance(0.7))
  }
  if (r < 78) {
    // A prefix that claims more than is sent, then the end of the stream.
    const bytes = concat(varint(payload.length + rng.range(1, 1000)), payload)
    return simple('a frame shorter than its prefix', bytes)
  }
  if (r < 83)
    return simple('a frame and trailing bytes', concat(frame(payload), randomBytes(rng, 256)), true, true)
  if (r < 87) return simple('a frame twice', concat(frame(payload), frame(payload)), true, true)
  if (r < 90) return simple('nothing, then the end of the stream', new Uint8Array(0))
  if (r < 93) {
    const bytes = frame(payload)
    const cut = rng.int(bytes.length)
    return {
      what: 'part of a frame, then a reset',
      bytes: bytes.subarray(0, cut),
      stalls: false,
      send: async (s) => {
        await write(s, bytes.subarray(0, cut))
        s.abort(new Error('fuzz: reset'))
      },
    }
  }
  if (r < 96) {
    const bytes = frame(payload)
    const gap = rng.pick([1, 5, 20])
    return {
      what: `a frame a byte at a time (${gap} ms apart)`,
      bytes,
      payload,
      stalls: false,
      send: async (s) => {
        for (let i = 0; i < bytes.length && i < 400; i++) {
          if (!(await write(s, bytes.subarray(i, i + 1)))) return
          await sleep(gap)
        }
        if (bytes.length <= 400) await closeWrite(s)
      },
    }
  }
  if (r < 98) return simple('silence (the stream open, nothing sent)', new Uint8Array(0), false)
  const bytes = frame(payload)
  return simple('part of a frame, then silence', bytes.subarray(0, rng.int(bytes.length)), false)
}

export interface Exchange {
  /** How the stream ended: the server closed its side, the stream was reset or closed, or it did not end. */
  end: 'server closed' | 'reset' | 'closed' | 'not ended' | 'not opened'
  received: Uint8Array
  error?: string
}

/**
 * Open `protocol` to `peer`, act out `b`, and wait up to `capMs` for the server to end the stream
 * (close its side or reset it). The stream is reset afterwards in any case.
 */
export async function exchange(
  node: CordexLibp2p,
  peer: PeerId,
  protocol: string,
  b: Behaviour,
  capMs: number,
): Promise<Exchange> {
  let stream: Stream | undefined
  // Opening the stream is not under test: a failed opening is tried again.
  for (let attempt = 0; stream === undefined; attempt++) {
    try {
      stream = await node.dialProtocol(peer, protocol, { signal: AbortSignal.timeout(10_000) })
    } catch (err) {
      if (attempt >= 3)
        return { end: 'not opened', received: new Uint8Array(0), error: (err as Error).message }
      await sleep(50)
    }
  }
  const chunks: Uint8Array[] = []
  stream.addEventListener('message', (e) => chunks.push(e.data.subarray()))
  const ended = new Promise<Exchange['end']>((resolve) => {
    stream.addEventListener('remoteCloseWrite', () => resolve('server closed'), { once: true })
    stream.addEventListener('close', (e) => resolve(e.error !== undefined ? 'reset' : 'closed'), {
      once: true,
    })
  })
  let timer: NodeJS.Timeout | undefined
  const cap = new Promise<'not ended'>((resolve) => (timer = setTimeout(() => resolve('not ended'), capMs)))
  await b.send(stream).catch(() => {})
  const end = stream.remoteWriteStatus !== 'writable' ? 'server closed' : await Promise.race([ended, cap])
  clearTimeout(timer)
  if (stream.status === 'open' || stream.status === 'closing') stream.abort(new Error('fuzz: done'))
  return { end, received: concat(...chunks) }
}

/** Split length-prefixed frames; the rest (an incomplete frame) is returned apart. */
export function frames(bytes: Uint8Array): { frames: Uint8Array[]; rest: Uint8Array } {
  const out: Uint8Array[] = []
  let off = 0
  while (off < bytes.length) {
    let len = 0
    let shift = 0
    let i = off
    for (; i < bytes.length && i - off < 10; i++) {
      len += (bytes[i]! & 0x7f) * 2 ** shift
      shift += 7
      if ((bytes[i]! & 0x80) === 0) break
    }
    if (i >= bytes.length || i + 1 + len > bytes.length) break
    out.push(bytes.subarray(i + 1, i + 1 + len))
    off = i + 1 + len
  }
  return { frames: out, rest: bytes.subarray(off) }
}

export { equalBytes }
