import type { Options } from 'yargs'
import type { Config, DeepPartial } from '../node/index.js'

/** Flags that override the network config's p2p and api settings (init and daemon). */
export interface P2pArgs {
  listen?: string[]
  announce?: string[]
  bootstrap?: string[]
  apiPort?: number
}

export const p2pOptions: Record<string, Options> = {
  listen: { type: 'string', array: true, description: 'Multiaddr(s) to listen on' },
  announce: {
    type: 'string',
    array: true,
    description: 'Multiaddr(s) to announce instead of the listen addresses',
  },
  bootstrap: { type: 'string', array: true, description: 'Bootstrap multiaddr(s), each ending in /p2p/<id>' },
  'api-port': {
    type: 'number',
    description: 'Also serve the control API over TCP on 127.0.0.1:<port> (0 picks a free port)',
  },
}

/** Turn the flags that were given into config overrides (absent flags override nothing). */
export function p2pOverrides(args: P2pArgs): DeepPartial<Config> {
  const p2p: DeepPartial<Config['p2p']> = {}
  if (args.listen !== undefined) p2p.listen = args.listen
  if (args.announce !== undefined) p2p.announce = args.announce
  if (args.bootstrap !== undefined) p2p.bootstrap = args.bootstrap
  return {
    ...(Object.keys(p2p).length > 0 ? { p2p } : {}),
    ...(args.apiPort !== undefined ? { api: { port: args.apiPort } } : {}),
  }
}
