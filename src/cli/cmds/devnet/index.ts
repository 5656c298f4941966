import type { CommandModule } from 'yargs'
import { devnetOptions, type DevnetArgs } from './options.js'
import { devnetHandler } from './handler.js'

export const devnetCommand: CommandModule<object, DevnetArgs> = {
  command: 'devnet',
  describe: 'Run a local network of N daemons on loopback (peer 0 bootstraps the others) until Ctrl-C',
  builder: (y) => y.options(devnetOptions) as never,
  handler: devnetHandler,
}
