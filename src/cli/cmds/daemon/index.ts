import type { CommandModule } from 'yargs'
import { daemonOptions, type DaemonArgs } from './options.js'
import { lazy } from '../../lazy.js'

export const daemonCommand: CommandModule<object, DaemonArgs> = {
  command: 'daemon',
  describe: 'Run a Cordex peer in the foreground (structured JSON logs on stdout; Ctrl-C stops it)',
  builder: (y) => y.options(daemonOptions) as never,
  handler: lazy(async () => (await import('./handler.js')).daemonHandler),
}
