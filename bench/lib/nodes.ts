// libp2p must see Promise.withResolvers (Node 20 lacks it) before any of its modules load.
import '../../src/polyfill.js'
import { readFileSync } from 'node:fs'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { MemoryDatastore } from 'datastore-core'
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
 * muxer, encryption and services), each with a fresh Ed25519 key and an in-memory datastore.
 */
export async function startNodes(count: number, config: Config): Promise<CordexLibp2p[]> {
  const nodes: CordexLibp2p[] = []
  try {
    for (let i = 0; i < count; i++) {
      const privateKey = await generateKeyPair('Ed25519')
      const node = await buildLibp2p({ privateKey, datastore: new MemoryDatastore() }, config)
      nodes.push(node)
      await node.start()
    }
  } catch (err) {
    await stopNodes(nodes)
    throw err
  }
  return nodes
}

export async function stopNodes(nodes: readonly CordexLibp2p[]): Promise<void> {
  await Promise.all(nodes.map((n) => Promise.resolve(n.stop()).catch(() => {})))
}

/** Open a connection from `a` to `b` on b's first listen address. */
export async function connect(a: CordexLibp2p, b: CordexLibp2p): Promise<void> {
  const addr = b.getMultiaddrs()[0]
  if (addr === undefined) throw new Error(`node ${b.peerId} has no listen address`)
  await a.dial(addr)
}
