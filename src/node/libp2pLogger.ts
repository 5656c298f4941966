import { defaultLogger } from '@libp2p/logger'
import type { ComponentLogger, Logger } from '@libp2p/interface'

/** A libp2p logger that drops everything, its scopes included. */
const SILENT: Logger = Object.assign(() => {}, {
  error: () => {},
  trace: () => {},
  enabled: false,
  newScope: (): Logger => SILENT,
})

/**
 * The component logger given to libp2p. Its own (`@libp2p/logger`) builds three `debug` loggers for
 * every connection, stream and scope it creates, each of which asks whether stderr is a terminal (an
 * `isatty` system call): 2–3% of a daemon's CPU while a mesh forms, for lines nobody reads unless
 * `DEBUG` names them. So libp2p's own logger only when `DEBUG` is set (`DEBUG='libp2p*'` for
 * everything, as libp2p documents), and otherwise one that drops everything at no cost.
 */
export function libp2pLogger(debug = process.env.DEBUG): ComponentLogger {
  if (debug !== undefined && debug.trim() !== '') return defaultLogger()
  return { forComponent: () => SILENT }
}
