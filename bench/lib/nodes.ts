// libp2p must see Promise.withResolvers (Node 20 lacks it) before any of its modules load.
import '../../src/polyfill.js'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { Level } from 'level'
import { CachedLevelDatastore } from '../../src/node/cachedDatastore.js'
import { buildLibp2p, type CordexLibp2p } from '../../src/node/libp2p.js'
import {
  deepMerge,
  networkFile,
  parseConfig,
  type Config,
  type DeepPartial,
} from '../../src/node/config/index.js'

/** The devnet network config (configs/devnet.json), validated like the daemon's, with overrides. */
export function devnetConfig(overrides: DeepPartial<Config> = {}): Config {
  const file = networkFile('devnet')
  return parseConfig(deepMerge(JSON.parse(readFileSync(file, 'utf8')), overrides), file)
}

/**
 * Start `count` libp2p nodes in this process with the daemon's own factory (same transports,
 * muxer, encryption and services), each with a fresh Ed25519 key and the daemon's datastore (a
 * cached LevelDB, here in a temporary directory): the peer store's reads and writes are part of
 * what a connection and a stream cost.
 */
export async function startNodes(count: number, config: Config): Promise<CordexLibp2p[]> {
  const nodes: CordexLibp2p[] = []
  try {
    for (let i = 0; i < count; i++) {
      const privateKey = await generateKeyPair('Ed25519')
      const dir = mkdtempSync(join(tmpdir(), 'cx-node-'))
      const datastore = new CachedLevelDatastore(
        new Level<string, Uint8Array>(dir, { valueEncoding: 'view' }),
      )
      await datastore.open()
      const node = await buildLibp2p({ privateKey, datastore }, config)
      stores.set(node, { datastore, dir })
      nodes.push(node)
      await node.start()
    }
  } catch (err) {
    await stopNodes(nodes)
    throw err
  }
  return nodes
}

/** Each node's datastore and its directory, removed when the node stops. */
const stores = new WeakMap<CordexLibp2p, { datastore: CachedLevelDatastore; dir: string }>()

export async function stopNodes(nodes: readonly CordexLibp2p[]): Promise<void> {
  await Promise.all(
    nodes.map(async (n) => {
      await Promise.resolve(n.stop()).catch(() => {})
      const store = stores.get(n)
      if (store === undefined) return
      await store.datastore.close().catch(() => {})
      rmSync(store.dir, { recursive: true, force: true })
    }),
  )
}

/** Open a connection from `a` to `b` on b's first listen address. */
export async function connect(a: CordexLibp2p, b: CordexLibp2p): Promise<void> {
  const addr = b.getMultiaddrs()[0]
  if (addr === undefined) throw new Error(`node ${b.peerId} has no listen address`)
  await a.dial(addr)
}
