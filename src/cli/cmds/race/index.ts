import type { CommandModule } from 'yargs'
import type { GlobalArgs } from '../../options.js'
import { lazy } from '../../lazy.js'

export const raceCommand: CommandModule<object, GlobalArgs & { watch: boolean }> = {
  command: 'race',
  describe:
    "The Race: epoch, phase and time left, this peer's nonces per second and valid nonces, the weights in force",
  builder: (y) =>
    y.option('watch', {
      type: 'boolean',
      default: false,
      description: 'Refresh every second until Ctrl-C',
    }) as never,
  handler: lazy(async () => (await import('./handler.js')).raceHandler),
}
