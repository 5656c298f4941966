import { readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import type { z } from 'zod'
import { CordexError } from '../../util/errors.js'
import { PACKAGE_ROOT } from '../../version.js'
import { configSchema, type Config, type LocalConfig } from './schema.js'

export type ConfigErrorCode =
  'CONFIG_INVALID' | 'CONFIG_UNREADABLE' | 'CONFIG_NETWORK_MISMATCH' | 'CONFIG_UNKNOWN_NETWORK'

export class ConfigError extends CordexError<ConfigErrorCode, { file?: string; field?: string }> {}

export const CONFIG_DIR = join(PACKAGE_ROOT, 'configs')
export const LOCAL_CONFIG_FILE = 'config.json'

/** Names of the networks shipped in configs/. */
export const NETWORKS = ['devnet', 'mainnet'] as const

export interface LoadConfigOptions {
  dataDir: string
  /** Network name from the command line; must agree with the data directory's. */
  network?: string
  /** A network config file used instead of configs/<network>.json. */
  configFile?: string
  /** Values from flags, applied last. */
  overrides?: DeepPartial<Config>
}

export type DeepPartial<T> = T extends unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T

/**
 * Build the daemon's configuration: network file, then the data directory's config.json, then
 * flags. Throws a ConfigError whose message names the file and the field at fault.
 */
export function loadConfig(opts: LoadConfigOptions): Config {
  const localPath = join(opts.dataDir, LOCAL_CONFIG_FILE)
  const local = existsSync(localPath) ? (readJson(localPath) as Partial<LocalConfig>) : {}
  if (typeof local !== 'object' || local === null || Array.isArray(local)) {
    throw new ConfigError('CONFIG_INVALID', `${localPath}: expected a JSON object`, { file: localPath })
  }
  const network = opts.network ?? (typeof local.network === 'string' ? local.network : 'devnet')
  if (opts.network !== undefined && local.network !== undefined && local.network !== opts.network) {
    throw new ConfigError(
      'CONFIG_NETWORK_MISMATCH',
      `${opts.dataDir} belongs to network "${String(local.network)}", not "${opts.network}"`,
      { file: localPath, field: 'network' },
    )
  }
  const baseFile = opts.configFile ?? networkFile(network)
  const base = readJson(baseFile)
  const merged = deepMerge(deepMerge(base, local), opts.overrides ?? {})
  const result = configSchema.safeParse(merged)
  if (!result.success)
    throw invalid(result.error, existsSync(localPath) ? `${baseFile} + ${localPath}` : baseFile)
  return result.data
}

/** Validate a whole config object, as `loadConfig` does, for callers that build one in memory. */
export function parseConfig(value: unknown, source = 'config'): Config {
  const result = configSchema.safeParse(value)
  if (!result.success) throw invalid(result.error, source)
  return result.data
}

export function networkFile(network: string): string {
  if (!(NETWORKS as readonly string[]).includes(network)) {
    throw new ConfigError(
      'CONFIG_UNKNOWN_NETWORK',
      `unknown network "${network}" (known: ${NETWORKS.join(', ')}; or pass --config FILE)`,
      { field: 'network' },
    )
  }
  return join(CONFIG_DIR, `${network}.json`)
}

function readJson(file: string): unknown {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError(
      'CONFIG_UNREADABLE',
      `cannot read ${file}: ${(err as Error).message}`,
      { file },
      { cause: err },
    )
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new ConfigError('CONFIG_INVALID', `${file}: not valid JSON: ${(err as Error).message}`, { file })
  }
}

function invalid(error: z.ZodError, source: string): ConfigError {
  const issue = error.issues[0]
  const field = issue?.path.join('.') ?? ''
  const lines = error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`)
  return new ConfigError('CONFIG_INVALID', `invalid config (${source}):\n${lines.join('\n')}`, {
    file: source,
    field,
  })
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Objects merge key by key; arrays and scalars from `over` replace those of `base`. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over
  const out: Record<string, unknown> = { ...base }
  for (const [k, v] of Object.entries(over)) {
    if (v !== undefined) out[k] = deepMerge(base[k], v)
  }
  return out
}
