import type { CommandModule } from 'yargs'
import type { GlobalArgs } from '../../options.js'
import { lazy } from '../../lazy.js'

const handler = (name: 'listHandler' | 'proposeHandler' | 'voteHandler') =>
  lazy(async () => (await import('./handler.js'))[name] as (a: unknown) => unknown)

const waitOptions = {
  wait: {
    type: 'boolean',
    default: true,
    description: 'Wait until the transaction is final (--no-wait to return at once)',
  },
  timeout: { type: 'number', default: 60, description: 'Seconds to wait for finality' },
} as const

export const modelCommand: CommandModule<object, GlobalArgs> = {
  command: 'model <command>',
  describe: 'Models added by proposal and weighted vote: propose, vote, list',
  builder: (y) =>
    y
      .command({
        command: 'propose <dir>',
        describe: "Propose a model folder's model for the chain, escrowing the deposit",
        builder: (b) =>
          b
            .positional('dir', {
              type: 'string',
              demandOption: true,
              description: 'Model folder (manifest.json)',
            })
            .options({
              'units-per-token': {
                type: 'number',
                description: "Units of compute per token (default: the manifest's unitsPerToken)",
              },
              ...waitOptions,
            }),
        handler: handler('proposeHandler') as never,
      })
      .command({
        command: 'vote <id> <choice>',
        describe: 'Vote yes or no on a pending proposal (needs weight in the current epoch)',
        builder: (b) =>
          b
            .positional('id', { type: 'string', demandOption: true, description: 'Model id (name@hash)' })
            .positional('choice', { type: 'string', demandOption: true, choices: ['yes', 'no'] })
            .options(waitOptions),
        handler: handler('voteHandler') as never,
      })
      .command({
        command: 'list',
        describe: 'Approved models, pending proposals with their votes and weight shares, recent decisions',
        handler: handler('listHandler') as never,
      })
      .demandCommand(1, 'name a model command (propose, vote, list)') as never,
  handler: () => {},
}
