import { resolve } from 'node:path'
import { Daemon, StartAbortedError } from '../../../node/index.js'
import { p2pOverrides } from '../../p2pOptions.js'
import type { DaemonArgs } from './options.js'
import { exitWithParent } from '../../../util/parentWatch.js'

/**
 * Run the daemon in the foreground until SIGINT or SIGTERM (or, when started by `cordex devnet`,
 * until the parent goes away). The first signal stops it cleanly; a second one exits at once.
 */
export async function daemonHandler(args: DaemonArgs): Promise<void> {
  const daemon = new Daemon({
    dataDir: args.dataDir,
    network: args.network,
    configFile: args.config,
    overrides: {
      ...p2pOverrides(args),
      // Folders named on the command line are relative to where the command runs.
      ...(args.model !== undefined ? { engine: { models: args.model.map((m) => resolve(m)) } } : {}),
    },
    logLevel: args.logLevel,
  })
  let signals = 0
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++
    if (signals > 1) {
      daemon.log?.warn({ signal }, 'second signal: exiting now')
      process.exit(signal === 'SIGINT' ? 130 : 143)
    }
    daemon.log?.info({ signal }, 'signal received: stopping')
    void daemon.stop()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  // A stray rejection inside a dependency is logged, not fatal; a thrown exception means unknown
  // state, so the daemon closes its database cleanly and exits with an error.
  process.on('unhandledRejection', (err) => daemon.log?.error({ err }, 'unhandled rejection'))
  process.on('uncaughtException', (err) => {
    daemon.log?.fatal({ err }, 'uncaught exception: stopping')
    process.exitCode = 1
    void daemon.stop()
  })
  // Started with an IPC channel (by `cordex devnet`): stop when the parent disappears.
  if (process.send !== undefined) process.on('disconnect', () => void daemon.stop())
  exitWithParent(() => {
    daemon.log?.warn('the process that started this daemon is gone: stopping')
    void daemon.stop()
  })

  try {
    await daemon.start()
  } catch (err) {
    await daemon.stop()
    if (process.connected) process.disconnect()
    if (err instanceof StartAbortedError && daemon.failure === undefined) return
    throw daemon.failure ?? err
  }
  await daemon.stopped
  // The IPC channel would keep the event loop (and so the process) alive.
  if (process.connected) process.disconnect()
  // Stopped from inside (e.g. CHAIN_UNBALANCED after a block): exit with an error, as a failed start does.
  if (daemon.failure !== undefined) throw daemon.failure
}
