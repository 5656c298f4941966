import type { CommandModule } from 'yargs'
import type { GlobalArgs } from '../../options.js'
import { lazy } from '../../lazy.js'

export const peersCommand: CommandModule<object, GlobalArgs> = {
  command: 'peers',
  describe: 'List connected peers: id, addresses, latency, protocols, connected since',
  handler: lazy(async () => (await import('./handler.js')).peersHandler),
}
