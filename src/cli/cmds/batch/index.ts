import type { CommandModule } from 'yargs'
import type { GlobalArgs } from '../../options.js'
import { lazy } from '../../lazy.js'

const handler = (name: 'submitHandler' | 'statusHandler' | 'resultsHandler' | 'cancelHandler') =>
  lazy(async () => (await import('./handler.js'))[name] as (a: unknown) => unknown)

const id = { type: 'string', demandOption: true, description: 'Batch id (batch_...)' } as const

export const batchCommand: CommandModule<object, GlobalArgs> = {
  command: 'batch <command>',
  describe: 'Batch jobs: run a JSONL file of requests as tasks (OpenAI Batch API) and read the results',
  builder: (y) =>
    y
      .command({
        command: 'submit <file>',
        describe: 'Upload a JSONL file of requests and start a batch over it; prints the batch id',
        builder: (b) =>
          b
            .positional('file', { type: 'string', demandOption: true, description: 'The JSONL file' })
            .options({
              endpoint: {
                type: 'string',
                choices: ['/v1/chat/completions', '/v1/completions'],
                description: "The batch's endpoint (default: the first request's url)",
              },
              metadata: { type: 'string', array: true, description: 'key=value pairs kept with the batch' },
            }),
        handler: handler('submitHandler') as never,
      })
      .command({
        command: 'status <id>',
        describe: "A batch's status, request counts, files and the audit of its tasks",
        builder: (b) => b.positional('id', id),
        handler: handler('statusHandler') as never,
      })
      .command({
        command: 'results <id>',
        describe: "A finished batch's output file (JSONL, one answer per request, in file order)",
        builder: (b) =>
          b.positional('id', id).options({
            errors: { type: 'boolean', default: false, description: 'Print the error file instead' },
          }),
        handler: handler('resultsHandler') as never,
      })
      .command({
        command: 'cancel <id>',
        describe: 'Cancel a batch: nothing more starts, the requests running are stopped',
        builder: (b) => b.positional('id', id),
        handler: handler('cancelHandler') as never,
      })
      .demandCommand(1, 'name a batch command (submit, status, results, cancel)') as never,
  handler: () => {},
}
