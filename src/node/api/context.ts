import type { Clock } from '../../util/clock.js'
import type { Config } from '../config/index.js'
import type { DataDirPaths } from '../dataDir.js'
import type { CordexLibp2p } from '../libp2p.js'
import type { InfoProtocol } from '../../protocols/index.js'

/** What the control socket's routes may read of the running daemon. */
export interface ApiContext {
  node: CordexLibp2p
  config: Config
  paths: DataDirPaths
  clock: Clock
  startedAt: number
  version: string
  info: InfoProtocol
  /** URL of the TCP listener, or null. */
  apiUrl: () => string | null
}
