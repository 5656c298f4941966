import type { CommandModule } from 'yargs'
import type { HostArgs } from './handler.js'
import { lazy } from '../../lazy.js'

export const hostCommand: CommandModule<object, HostArgs> = {
  command: 'host <peer>',
  describe:
    'A host: reputation and check rate, held rewards, jail, frauds, false accusations, its announcement and its checking duty',
  builder: (y) =>
    y.positional('peer', { type: 'string', demandOption: true, description: 'Peer id' }) as never,
  handler: lazy(async () => (await import('./handler.js')).hostHandler),
}
