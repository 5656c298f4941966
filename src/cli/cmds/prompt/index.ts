import type { CommandModule } from 'yargs'
import type { GlobalArgs } from '../../options.js'
import { lazy } from '../../lazy.js'
import { samplingOptions, type SamplingArgs } from './sampling.js'

export const promptCommand: CommandModule<object, GlobalArgs & SamplingArgs & { text: string }> = {
  command: 'prompt <text>',
  describe:
    'Send a prompt to the network through this daemon; stream the answer, then executor, tokens and cost',
  builder: (y) =>
    y
      .positional('text', { type: 'string', demandOption: true, description: 'The prompt' })
      .options(samplingOptions) as never,
  handler: lazy(async () => (await import('./handler.js')).promptHandler),
}
