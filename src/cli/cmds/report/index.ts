import type { CommandModule } from 'yargs'
import type { ReportArgs } from './handler.js'
import { lazy } from '../../lazy.js'

export const reportCommand: CommandModule<object, ReportArgs> = {
  command: 'report <id>',
  describe:
    "Dispute one of this daemon's tasks: a Report escrows the chain's report deposit and every weighted peer may vote",
  builder: (y) =>
    y
      .positional('id', { type: 'string', demandOption: true, description: 'Task id (64 hex digits)' })
      .options({
        wait: {
          type: 'boolean',
          default: true,
          description: 'Wait until the Report is final (--no-wait to return at once)',
        },
        timeout: { type: 'number', default: 60, description: 'Seconds to wait for finality' },
      }) as never,
  handler: lazy(async () => (await import('./handler.js')).reportHandler),
}
