import { homedir } from 'node:os'
import { join } from 'node:path'
import type { Options } from 'yargs'
import type { GlobalArgs } from '../../options.js'

export interface DevnetArgs extends GlobalArgs {
  peers: number
  baseDir: string
  api: boolean
}

export const devnetOptions: Record<string, Options> = {
  peers: { type: 'number', default: 3, description: 'Number of daemons to run (1-64)' },
  'base-dir': {
    type: 'string',
    default: join(homedir(), '.cordex', 'devnet'),
    defaultDescription: '~/.cordex/devnet',
    description: 'Peer i keeps its data in <base-dir>/peer-<i>',
  },
  api: { type: 'boolean', default: false, description: "Turn on each peer's TCP API listener on 127.0.0.1" },
}
