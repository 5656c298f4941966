import type { CommandModule, Options } from 'yargs'
import { sendTx, checkUnits, type SendArgs } from './handler.js'

const sendOptions: Record<string, Options> = {
  fee: { type: 'string', description: 'Fee in base units (default: the chain minimum)' },
  wait: {
    type: 'boolean',
    default: true,
    description: 'Wait until the transaction is final (--no-wait to return at once)',
  },
  timeout: { type: 'number', default: 60, description: 'Seconds to wait for finality' },
}

export const txCommand: CommandModule<object, SendArgs> = {
  command: 'tx <command>',
  describe: "Send a transaction signed with the daemon's key",
  builder: (y) =>
    y
      .command({
        command: 'transfer',
        describe: 'Transfer base units to another account',
        builder: (b) =>
          b.options({
            ...sendOptions,
            to: { type: 'string', demandOption: true, description: 'Recipient peer id' },
            amount: { type: 'string', demandOption: true, description: 'Base units to send' },
          }),
        handler: (a) =>
          sendTx(a as never, 'Transfer', { to: a.to, amount: checkUnits(String(a.amount), '--amount') }),
      })
      .command({
        command: 'stake',
        describe: 'Bond base units from the balance as stake',
        builder: (b) => b.options({ ...sendOptions, amount: { type: 'string', demandOption: true } }),
        handler: (a) => sendTx(a as never, 'Stake', { amount: checkUnits(String(a.amount), '--amount') }),
      })
      .command({
        command: 'unstake',
        describe: 'Unbond stake (it returns to the balance after the unbonding period)',
        builder: (b) => b.options({ ...sendOptions, amount: { type: 'string', demandOption: true } }),
        handler: (a) => sendTx(a as never, 'Unstake', { amount: checkUnits(String(a.amount), '--amount') }),
      })
      .demandCommand(1, 'name a transaction (transfer, stake, unstake)') as never,
  handler: () => {},
}
