import { homedir } from 'node:os'
import { join } from 'node:path'
import type { Options } from 'yargs'

/** Options every command takes. */
export interface GlobalArgs {
  dataDir: string
  network?: string
  config?: string
  json: boolean
}

export const DEFAULT_DATA_DIR = join(homedir(), '.cordex')

export const globalOptions: Record<string, Options> = {
  'data-dir': {
    type: 'string',
    description: 'Data directory of the daemon (identity, config, database, socket)',
    default: DEFAULT_DATA_DIR,
    defaultDescription: '~/.cordex',
  },
  network: {
    type: 'string',
    description: "Network name (devnet or mainnet); defaults to the data directory's",
  },
  config: {
    type: 'string',
    description: 'A network config file to use instead of configs/<network>.json',
  },
  json: {
    type: 'boolean',
    description: 'Print machine-readable JSON',
    default: false,
  },
}
