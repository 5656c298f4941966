import type { CommandModule } from 'yargs'
import type { GlobalArgs } from '../../options.js'
import { lazy } from '../../lazy.js'

export const statusCommand: CommandModule<object, GlobalArgs> = {
  command: 'status',
  describe: 'Show the running daemon: peer id, network, addresses, uptime, peers, DHT size',
  handler: lazy(async () => (await import('./handler.js')).statusHandler),
}
