import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { initDataDir, type Config, type DeepPartial } from '../../../node/index.js'
import { freePort } from './ports.js'

export interface DevnetPeer {
  index: number
  dataDir: string
  peerId: string
}

/**
 * Initialize `<baseDir>/peer-<i>` for i < count, or keep what is there. Each new peer gets a fixed
 * loopback port and peer 0 as bootstrap, written into its config.json, so that
 * `cordex daemon --data-dir <baseDir>/peer-<i>` alone rejoins the same network later.
 */
export async function prepareDevnet(baseDir: string, count: number, api: boolean): Promise<DevnetPeer[]> {
  const peers: DevnetPeer[] = []
  let bootstrap: string | undefined
  for (let index = 0; index < count; index++) {
    const dataDir = join(baseDir, `peer-${index}`)
    const local = readLocal(dataDir)
    const overrides: DeepPartial<Config> = {}
    if (local?.p2p?.listen === undefined) {
      overrides.p2p = { listen: [`/ip4/127.0.0.1/tcp/${await freePort()}`] }
      if (bootstrap !== undefined) overrides.p2p.bootstrap = [bootstrap]
    }
    if (api && (local?.api?.port ?? null) === null) overrides.api = { port: await freePort() }
    const { peerId } = await initDataDir({ dataDir, network: 'devnet', overrides })
    if (index === 0) {
      const listen = readLocal(dataDir)?.p2p?.listen?.[0]
      if (listen === undefined) throw new Error(`${dataDir}/config.json has no listen address`)
      bootstrap = `${listen}/p2p/${peerId}`
    }
    peers.push({ index, dataDir, peerId })
  }
  return peers
}

function readLocal(dataDir: string): DeepPartial<Config> | undefined {
  const file = join(dataDir, 'config.json')
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as DeepPartial<Config>) : undefined
}
