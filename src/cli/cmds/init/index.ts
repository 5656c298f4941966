import type { CommandModule } from 'yargs'
import { initOptions, type InitArgs } from './options.js'
import { lazy } from '../../lazy.js'

export const initCommand: CommandModule<object, InitArgs> = {
  command: 'init',
  describe: 'Create a data directory: identity key (mode 0600) and config.json; print the peer id',
  builder: (y) => y.options(initOptions) as never,
  handler: lazy(async () => (await import('./handler.js')).initHandler),
}
