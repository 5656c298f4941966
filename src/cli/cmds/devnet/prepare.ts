import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { initDataDir, devGenesis, loadConfig, type Config, type DeepPartial } from '../../../node/index.js'
import { CliError } from '../../errors.js'
import { ExitCode } from '../../exitCodes.js'
import { freePort } from './ports.js'

export interface DevnetPeer {
  index: number
  dataDir: string
  peerId: string
}

/**
 * Initialize `<baseDir>/peer-<i>` for i < count, or keep what is there. Each new peer gets a fixed
 * loopback port and peer 0 as bootstrap, and every peer the same genesis, in which all of them
 * validate; all of it goes into each config.json, so that `cordex daemon --data-dir
 * <baseDir>/peer-<i>` alone rejoins the same network later.
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
  await shareGenesis(peers)
  return peers
}

/** Give every peer one genesis naming all of them as validators, unless they already share it. */
async function shareGenesis(peers: DevnetPeer[]): Promise<void> {
  const ids = peers.map((p) => p.peerId)
  const config0 = loadConfig({ dataDir: peers[0]!.dataDir })
  const validators = config0.genesis.validators.map((v) => v.id)
  if (validators.length === ids.length && validators.every((id, i) => id === ids[i])) return
  const started = peers.filter((p) => existsSync(join(p.dataDir, 'db')))
  if (started.length > 0) {
    throw new CliError(
      ExitCode.USAGE,
      'DEVNET_MISMATCH',
      `${started[0]!.dataDir} already holds a chain of another set of validators; ` +
        `run devnet with the same --peers as before, or with a new --base-dir`,
    )
  }
  const genesis = devGenesis(
    config0.genesis,
    ids,
    Date.now(),
    `cordex-devnet-${randomBytes(4).toString('hex')}`,
  )
  for (const p of peers) await initDataDir({ dataDir: p.dataDir, overrides: { genesis } })
}

function readLocal(dataDir: string): DeepPartial<Config> | undefined {
  const file = join(dataDir, 'config.json')
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as DeepPartial<Config>) : undefined
}
