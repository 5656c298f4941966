import '../../src/polyfill.js'
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { lpStream } from '@libp2p/utils'
import type { CordexLibp2p } from '../../src/node/libp2p.js'
import { connectedPair } from '../helpers/libp2pPair.js'

// Yamux window updates at half the window (src/node/yamuxWindow.ts): two daemons' libp2p nodes
// over TCP on loopback, in one process. A stream that receives many small frames (a streamed
// completion: one per token) grants credit back in a few window updates, not one per frame; a
// transfer of many windows still arrives whole, the sender never left without credit.

const P = '/cordex/devnet/test-window/1.0.0'
/** Yamux's frame type of a window update (its spec: 0 data, 1 window update, 2 ping, 3 go away). */
const WINDOW_UPDATE = 1
const SMALL = 500
const LARGE = 8 << 20
const CHUNK = 64 << 10
/** The initial stream window, and the half of it a receiver may wait for before granting credit. */
const WINDOW = 256 << 10
let client: CordexLibp2p
let server: CordexLibp2p

let stop: () => Promise<void>

before(async () => {
  ;({ client, server, stop } = await connectedPair())
})

after(async () => stop())

test(
  'a stream receiving many small frames sends a few window updates, not one per frame; many windows of data arrive whole',
  { timeout: 60_000 },
  async (t) => {
    const seen = { afterSmall: -1, afterLarge: -1 }
    let updates = 0
    await server.handle(P, async (stream) => {
      // The stream's frames go out through its `sendFrame` (a field, private in its types).
      const s = stream as unknown as { sendFrame(header: { type: number }, body?: unknown): boolean }
      const send = s.sendFrame.bind(s)
      s.sendFrame = (header, body) => {
        if (header.type === WINDOW_UPDATE) updates++
        return send(header, body)
      }
      const lp = lpStream(stream, { maxDataLength: CHUNK })
      for (let i = 0; i < SMALL; i++) await lp.read()
      seen.afterSmall = updates
      const hash = createHash('sha256')
      for (let got = 0; got < LARGE;) {
        const chunk = (await lp.read()).subarray()
        hash.update(chunk)
        got += chunk.byteLength
      }
      seen.afterLarge = updates
      await lp.write(hash.digest())
      await stream.close()
    })
    const stream = await client.dialProtocol(server.peerId, P)
    const lp = lpStream(stream, { maxDataLength: CHUNK })
    for (let i = 0; i < SMALL; i++) await lp.write(randomBytes(32))
    const data = randomBytes(LARGE)
    for (let at = 0; at < LARGE; at += CHUNK) await lp.write(data.subarray(at, at + CHUNK))
    const digest = (await lp.read()).subarray()
    await stream.close()
    assert.deepEqual(
      Buffer.from(digest),
      createHash('sha256').update(data).digest(),
      'the data arrived whole',
    )
    t.diagnostic(
      `window updates: ${seen.afterSmall} after ${SMALL} small frames, ${seen.afterLarge} after ${LARGE >> 20} MiB`,
    )
    // The stream's opening ACK is a window update; the small frames (about 17 KiB) need no more.
    assert.ok(seen.afterSmall <= 1, `${seen.afterSmall} window updates for ${SMALL} small frames`)
    assert.ok(seen.afterLarge > seen.afterSmall, 'credit was granted as windows filled')
    assert.ok(
      seen.afterLarge <= 1 + LARGE / (WINDOW / 2),
      `${seen.afterLarge} window updates for ${LARGE >> 20} MiB`,
    )
  },
)
