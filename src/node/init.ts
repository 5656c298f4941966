import { mkdir, readFile, writeFile, rename } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { loadConfig, deepMerge, LOCAL_CONFIG_FILE, type DeepPartial, type Config } from './config/index.js'
import { dataDirPaths } from './dataDir.js'
import { loadOrCreateIdentity } from './identity.js'

export interface InitOptions {
  dataDir: string
  network?: string
  /** Local settings written into the data directory's config.json (listen, bootstrap, api port...). */
  overrides?: DeepPartial<Config>
}

export interface InitResult {
  peerId: string
  dataDir: string
  network: string
  /** False when the directory was already initialized (its identity is kept). */
  created: boolean
}

/**
 * `cordex init`: create the data directory, its identity and its config.json. Running it again
 * keeps the identity and merges new settings. The merged config is validated before anything is
 * written, so a bad value leaves the directory as it was.
 */
export async function initDataDir(opts: InitOptions): Promise<InitResult> {
  const paths = dataDirPaths(opts.dataDir)
  const existing = existsSync(paths.config)
    ? (JSON.parse(await readFile(paths.config, 'utf8')) as Record<string, unknown>)
    : undefined
  const network = opts.network ?? (typeof existing?.network === 'string' ? existing.network : 'devnet')
  const local = deepMerge(existing ?? { network }, opts.overrides ?? {}) as Record<string, unknown>
  // Validate what the daemon will load, before writing anything.
  loadConfig({ dataDir: paths.root, network, overrides: local as DeepPartial<Config> })

  await mkdir(paths.root, { recursive: true, mode: 0o700 })
  const identity = await loadOrCreateIdentity(paths.root)
  const tmp = `${paths.config}.tmp-${process.pid}`
  await writeFile(tmp, `${JSON.stringify({ ...local, network }, null, 2)}\n`, { mode: 0o600 })
  await rename(tmp, paths.config)
  return { peerId: identity.peerId.toString(), dataDir: paths.root, network, created: existing === undefined }
}

export { LOCAL_CONFIG_FILE }
