import '../../src/polyfill.js'
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { MemoryDatastore } from 'datastore-core'
import { buildLibp2p, type CordexLibp2p } from '../../src/node/libp2p.js'
import { loadConfig, type Config } from '../../src/node/config/index.js'
import { InfoProtocol, ReqResp, ProtocolError, protocolId } from '../../src/protocols/index.js'
import { silentLogger } from '../../src/util/logger.js'

// Two real libp2p nodes over TCP on loopback, in one process.
const dir = mkdtempSync(join(tmpdir(), 'cx-rr-'))
const devnet = loadConfig({ dataDir: dir, network: 'devnet' })
const limits = { maxFrameBytes: 4096, timeoutMs: 500, maxInboundStreams: 8 }
let a: CordexLibp2p
let b: CordexLibp2p

async function node(config: Config): Promise<CordexLibp2p> {
  const n = await buildLibp2p(
    { privateKey: await generateKeyPair('Ed25519'), datastore: new MemoryDatastore() },
    config,
  )
  await n.start()
  return n
}

before(async () => {
  a = await node(devnet)
  b = await node(devnet)
  await a.dial(b.getMultiaddrs()[0]!)
})

after(async () => {
  await Promise.all([a.stop(), b.stop()])
  rmSync(dir, { recursive: true, force: true })
})

test('info answers with the remote daemon network, version and uptime', async () => {
  const log = silentLogger()
  const server = new InfoProtocol(
    { node: b, log, localInfo: () => ({ network: 'devnet', version: '9.9.9', uptimeMs: 42 }) },
    'devnet',
    limits,
  )
  const client = new InfoProtocol(
    { node: a, log, localInfo: () => ({ network: 'devnet', version: '0', uptimeMs: 0 }) },
    'devnet',
    limits,
  )
  await server.start()
  try {
    assert.deepEqual(await client.query(b.peerId), { network: 'devnet', version: '9.9.9', uptimeMs: 42 })
  } finally {
    await server.stop()
  }
})

function pair(name: string): { server: ReqResp; client: ReqResp } {
  const id = protocolId('devnet', name)
  return {
    server: new ReqResp({ node: b, log: silentLogger() }, id, limits),
    client: new ReqResp({ node: a, log: silentLogger() }, id, limits),
  }
}

async function expectCode(p: Promise<unknown>, code: ProtocolError['code']): Promise<ProtocolError> {
  try {
    await p
  } catch (err) {
    assert.ok(err instanceof ProtocolError, `a ProtocolError, got ${String(err)}`)
    assert.equal(err.code, code, err.message)
    return err
  }
  assert.fail(`expected ${code}`)
}

test('a handler that throws answers with an error and the server keeps serving', async () => {
  const { server, client } = pair('flaky')
  let calls = 0
  await server.register(async (req) => {
    if (calls++ === 0) throw new Error('boom')
    return req
  })
  try {
    const err = await expectCode(client.request(b.peerId, new Uint8Array([1])), 'REMOTE_ERROR')
    assert.match(err.message, /SERVER_ERROR: boom/)
    assert.deepEqual([...(await client.request(b.peerId, new Uint8Array([7, 8])))], [7, 8])
  } finally {
    await server.unregister()
  }
})

test('a request frame over the limit is refused and the server keeps serving', async () => {
  const { server, client } = pair('echo')
  await server.register(async (req) => req)
  try {
    // The client's own frame limit is bypassed with a larger one, as a hostile peer would.
    const hostile = new ReqResp({ node: a, log: silentLogger() }, client.protocol, {
      ...limits,
      maxFrameBytes: 1 << 20,
    })
    await assert.rejects(hostile.request(b.peerId, new Uint8Array(limits.maxFrameBytes + 1)), ProtocolError)
    assert.equal((await client.request(b.peerId, new Uint8Array(100))).length, 100)
  } finally {
    await server.unregister()
  }
})

test('a response frame over the client limit is refused as FRAME_TOO_LARGE', async () => {
  const { client } = pair('big')
  const server = new ReqResp({ node: b, log: silentLogger() }, client.protocol, {
    ...limits,
    maxFrameBytes: 1 << 20,
  })
  await server.register(async () => new Uint8Array(limits.maxFrameBytes * 2))
  try {
    await expectCode(client.request(b.peerId, new Uint8Array(1)), 'FRAME_TOO_LARGE')
  } finally {
    await server.unregister()
  }
})

test('a peer that never answers times out', async () => {
  const { server, client } = pair('silent')
  await server.register(() => new Promise(() => {}))
  try {
    await expectCode(client.request(b.peerId, new Uint8Array(1)), 'TIMEOUT')
  } finally {
    await server.unregister()
  }
})

test('a node of another network does not speak our protocols', async () => {
  const other = await node({ ...devnet, network: 'othernet' })
  try {
    const { server } = pair('echo2')
    await server.register(async (req) => req)
    const foreign = new ReqResp({ node: other, log: silentLogger() }, protocolId('othernet', 'echo2'), limits)
    await expectCode(foreign.request(b.peerId, new Uint8Array(1)), 'DIAL_FAILED')
    await server.unregister()
  } finally {
    await other.stop()
  }
})
