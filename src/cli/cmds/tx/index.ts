import type { CommandModule, Options } from 'yargs'
import type { SendArgs } from './handler.js'
import { lazy } from '../../lazy.js'

/** `cordex tx <type>`: the handler module, loaded when a transaction is sent. */
function send(
  type: 'Transfer' | 'Stake' | 'Unstake',
  body: (a: Record<string, unknown>) => Record<string, unknown>,
): (a: Record<string, unknown>) => Promise<void> {
  return lazy(async () => {
    const { sendTx, checkUnits } = await import('./handler.js')
    return (a: Record<string, unknown>) =>
      sendTx(a as never, type, { ...body(a), amount: checkUnits(String(a.amount), '--amount') })
  })
}

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
        handler: send('Transfer', (a) => ({ to: a.to })),
      })
      .command({
        command: 'stake',
        describe: 'Bond base units from the balance as stake',
        builder: (b) => b.options({ ...sendOptions, amount: { type: 'string', demandOption: true } }),
        handler: send('Stake', () => ({})),
      })
      .command({
        command: 'unstake',
        describe: 'Unbond stake (it returns to the balance after the unbonding period)',
        builder: (b) => b.options({ ...sendOptions, amount: { type: 'string', demandOption: true } }),
        handler: send('Unstake', () => ({})),
      })
      .demandCommand(1, 'name a transaction (transfer, stake, unstake)') as never,
  handler: () => {},
}
