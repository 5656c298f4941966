import type { CommandModule } from 'yargs'
import { devnetOptions, type DevnetArgs } from './options.js'
import { lazy } from '../../lazy.js'

export const devnetCommand: CommandModule<object, DevnetArgs> = {
  command: 'devnet',
  describe: 'Run a local network of N daemons on loopback (peer 0 bootstraps the others) until Ctrl-C',
  builder: (y) => y.options(devnetOptions) as never,
  handler: lazy(async () => (await import('./handler.js')).devnetHandler),
}
