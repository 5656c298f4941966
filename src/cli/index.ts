import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import { globalOptions } from './options.js'
import { initCommand } from './cmds/init/index.js'
import { daemonCommand } from './cmds/daemon/index.js'
import { statusCommand } from './cmds/status/index.js'
import { peersCommand } from './cmds/peers/index.js'
import { devnetCommand } from './cmds/devnet/index.js'
import { ledgerCommand } from './cmds/ledger/index.js'
import { txCommand } from './cmds/tx/index.js'
import { raceCommand } from './cmds/race/index.js'
import { promptCommand } from './cmds/prompt/index.js'
import { chatCommand } from './cmds/chat/index.js'
import { taskCommand } from './cmds/task/index.js'
import { reportCommand } from './cmds/report/index.js'
import { hostCommand } from './cmds/host/index.js'
import { modelCommand } from './cmds/model/index.js'
import { priceCommand } from './cmds/price/index.js'
import { batchCommand } from './cmds/batch/index.js'
import { exitCodeOf } from './errors.js'
import { ExitCode } from './exitCodes.js'
import { errorMessage } from '../util/errors.js'
import { VERSION } from '../version.js'

/** Parse argv, run one command, and exit with its documented code. */
export async function main(argv: string[]): Promise<void> {
  const parser = yargs(argv)
    .scriptName('cordex')
    .version(VERSION)
    .options(globalOptions)
    .command(initCommand as never)
    .command(daemonCommand as never)
    .command(statusCommand as never)
    .command(peersCommand as never)
    .command(devnetCommand as never)
    .command(ledgerCommand as never)
    .command(txCommand as never)
    .command(raceCommand as never)
    .command(promptCommand as never)
    .command(chatCommand as never)
    .command(taskCommand as never)
    .command(reportCommand as never)
    .command(hostCommand as never)
    .command(modelCommand as never)
    .command(priceCommand as never)
    .command(batchCommand as never)
    .demandCommand(1, 'name a command (cordex --help lists them)')
    .strict()
    .epilogue(
      'Exit codes: 0 ok, 1 error, 2 usage, 3 no daemon, 4 bad config, 5 data directory in use, 6 daemon error',
    )
    .fail((msg, err) => {
      // A handler's own error goes to the catch below; only usage errors end here.
      if (err !== undefined && err !== null) throw err
      console.error(`cordex: ${msg}\n(see cordex --help)`)
      process.exit(ExitCode.USAGE)
    })
  try {
    await parser.parseAsync()
  } catch (err) {
    console.error(`cordex: ${errorMessage(err)}`)
    process.exitCode = exitCodeOf(err)
  }
}

await main(hideBin(process.argv))
