import { mkdir, readFile, writeFile, rename } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { loadConfig, deepMerge, type DeepPartial, type Config, type GenesisConfig } from './config/index.js'
import { dataDirPaths } from './dataDir.js'
import { loadOrCreateIdentity } from './identity.js'
import { loadOrCreateApiToken } from './apiToken.js'

export interface InitOptions {
  dataDir: string
  network?: string
  /** Local settings written into the data directory's config.json (listen, bootstrap, api port...). */
  overrides?: DeepPartial<Config>
  clock?: { now(): number }
}

export interface InitResult {
  peerId: string
  dataDir: string
  network: string
  /** False when the directory was already initialized (its identity is kept). */
  created: boolean
}

/** Base units per coin (display only; the ledger counts base units). */
export const BASE_UNITS_PER_COIN = 1_000_000_000n

/**
 * `cordex init`: create the data directory, its identity, its API token and its config.json.
 * Running it again keeps the identity and the token and merges new settings. The merged config is
 * validated before anything is written, so a bad value leaves the directory as it was. On devnet, a directory with no genesis
 * validators gets a chain of its own: this peer alone validates it and holds its coins.
 */
export async function initDataDir(opts: InitOptions): Promise<InitResult> {
  const paths = dataDirPaths(opts.dataDir)
  const existing = existsSync(paths.config)
    ? (JSON.parse(await readFile(paths.config, 'utf8')) as Record<string, unknown>)
    : undefined
  const network = opts.network ?? (typeof existing?.network === 'string' ? existing.network : 'devnet')
  const local = deepMerge(existing ?? { network }, opts.overrides ?? {}) as Record<string, unknown>
  // Validate what the daemon will load, before writing anything.
  const config = loadConfig({ dataDir: paths.root, network, overrides: local as DeepPartial<Config> })

  await mkdir(paths.root, { recursive: true, mode: 0o700 })
  const identity = await loadOrCreateIdentity(paths.root)
  await loadOrCreateApiToken(paths.root)
  const peerId = identity.peerId.toString()
  if (network === 'devnet' && config.genesis.validators.length === 0) {
    local.genesis = soloGenesis(config.genesis, peerId, (opts.clock ?? Date).now())
  }
  const tmp = `${paths.config}.tmp-${process.pid}`
  await writeFile(tmp, `${JSON.stringify({ ...local, network }, null, 2)}\n`, { mode: 0o600 })
  await rename(tmp, paths.config)
  return { peerId, dataDir: paths.root, network, created: existing === undefined }
}

/** A genesis in which the given peers validate with equal power and each holds a million coins. */
export function devGenesis(
  base: GenesisConfig,
  peerIds: string[],
  now: number,
  chainId: string,
): GenesisConfig {
  return {
    ...base,
    chainId,
    time: now,
    accounts: peerIds.map((id) => ({ id, balance: String(1_000_000n * BASE_UNITS_PER_COIN), stake: '0' })),
    validators: peerIds.map((id) => ({ id, power: 1 })),
  }
}

function soloGenesis(base: GenesisConfig, peerId: string, now: number): GenesisConfig {
  return devGenesis(base, [peerId], now, `${base.chainId}-${peerId.slice(-8).toLowerCase()}`)
}
