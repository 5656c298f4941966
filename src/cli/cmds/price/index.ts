import type { CommandModule } from 'yargs'
import type { GlobalArgs } from '../../options.js'
import { lazy } from '../../lazy.js'

export const priceCommand: CommandModule<object, GlobalArgs> = {
  command: 'price',
  describe:
    "The price of a unit of compute: the price in force, each weighted peer's vote, and the next epoch's price if the epoch ended now",
  handler: lazy(async () => (await import('./handler.js')).priceHandler),
}
