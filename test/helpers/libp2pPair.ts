import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { MemoryDatastore } from 'datastore-core'
import { buildLibp2p, type CordexLibp2p } from '../../src/node/libp2p.js'
import { loadConfig } from '../../src/node/config/index.js'

/**
 * Two of the daemon's libp2p nodes (its factory and devnet config, peer stores in memory) started
 * in this process, the client connected to the server over TCP on loopback; `stop` stops both.
 */
export async function connectedPair(): Promise<{
  client: CordexLibp2p
  server: CordexLibp2p
  stop: () => Promise<void>
}> {
  const dir = mkdtempSync(join(tmpdir(), 'cx-pair-'))
  const devnet = loadConfig({ dataDir: dir, network: 'devnet' })
  const node = async (): Promise<CordexLibp2p> => {
    const n = await buildLibp2p(
      { privateKey: await generateKeyPair('Ed25519'), datastore: new MemoryDatastore() },
      devnet,
    )
    await n.start()
    return n
  }
  const client = await node()
  const server = await node()
  await client.dial(server.getMultiaddrs()[0]!)
  return {
    client,
    server,
    stop: async () => {
      await Promise.all([client.stop(), server.stop()])
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
