import { initDataDir } from '../../../node/index.js'
import { printJson } from '../../output.js'
import { p2pOverrides } from '../../p2pOptions.js'
import type { InitArgs } from './options.js'

export async function initHandler(args: InitArgs): Promise<void> {
  const result = await initDataDir({
    dataDir: args.dataDir,
    network: args.network,
    overrides: p2pOverrides(args),
  })
  if (args.json) {
    printJson({
      peerId: result.peerId,
      dataDir: result.dataDir,
      network: result.network,
      created: result.created,
    })
    return
  }
  console.log(
    result.created
      ? `initialized ${result.dataDir}`
      : `${result.dataDir} was already initialized; config updated`,
  )
  console.log(`network: ${result.network}`)
  console.log(`peer id: ${result.peerId}`)
}
