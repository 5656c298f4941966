import type { CommandModule } from 'yargs'
import type { TaskArgs } from './handler.js'
import { lazy } from '../../lazy.js'

export const taskCommand: CommandModule<object, TaskArgs> = {
  command: 'task <id>',
  describe:
    'A task: its receipt, executor and fee, who checked it and with what verdict, its verification status and any penalty',
  builder: (y) =>
    y.positional('id', {
      type: 'string',
      demandOption: true,
      description: 'Task id (64 hex digits)',
    }) as never,
  handler: lazy(async () => (await import('./handler.js')).taskHandler),
}
