import type { CommandModule } from 'yargs'
import type { GlobalArgs } from '../../options.js'
import { lazy } from '../../lazy.js'

const handler = (name: 'headHandler' | 'blockHandler' | 'accountHandler') =>
  lazy(async () => (await import('./handler.js'))[name] as (a: unknown) => unknown)

export const ledgerCommand: CommandModule<object, GlobalArgs> = {
  command: 'ledger <command>',
  describe: 'Read the ledger: head, blocks, accounts, supply (amounts in base units)',
  builder: (y) =>
    y
      .command({
        command: 'head',
        describe: 'The last final block',
        handler: handler('headHandler') as never,
      })
      .command({
        command: 'block <height>',
        describe: 'One block: header, transactions, commit',
        builder: (b) => b.positional('height', { type: 'number', demandOption: true }),
        handler: handler('blockHandler') as never,
      })
      .command({
        command: 'account <id>',
        describe: 'An account: balance, stake, nonce',
        builder: (b) => b.positional('id', { type: 'string', demandOption: true }),
        handler: handler('accountHandler') as never,
      })
      .command({
        command: 'supply',
        describe: 'Supply, minted, burned; the subsidy batch, ratio and minimum issuance; the schedule',
        handler: lazy(async () => (await import('./supply.js')).supplyHandler) as never,
      })
      .demandCommand(1, 'name a ledger command (head, block, account, supply)') as never,
  handler: () => {},
}
