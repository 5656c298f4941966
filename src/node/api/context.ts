import type { Clock } from '../../util/clock.js'
import type { Config } from '../config/index.js'
import type { DataDirPaths } from '../dataDir.js'
import type { CordexLibp2p } from '../libp2p.js'
import type { InfoProtocol } from '../../protocols/index.js'
import type { ChainService } from '../chain/service.js'
import type { RaceService } from '../race/service.js'
import type { Signer } from '../../ledger/index.js'
import type { InferenceService } from '../infer/service.js'
import type { TaskStore } from '../infer/taskStore.js'
import type { SyntheticTraffic } from '../synthetic/service.js'
import type { BatchService } from '../batch/index.js'
import type { Metrics } from '../metrics.js'

/** What the control socket's routes may read of the running daemon. */
export interface ApiContext {
  node: CordexLibp2p
  config: Config
  paths: DataDirPaths
  clock: Clock
  startedAt: number
  version: string
  info: InfoProtocol
  chain: ChainService
  /** This node's Race, or null when its worker is off. */
  race: RaceService | null
  /** The daemon's key, for transactions it signs on its user's behalf. */
  signer: Signer
  /** The inference gateway, or null when the chain takes no tasks. */
  inference: InferenceService | null
  /** Task records kept for verifiers. */
  tasks: TaskStore | null
  /** Synthetic traffic, or null when this daemon has no gateway and engine to send it with. */
  synthetic: SyntheticTraffic | null
  /** Batch jobs (OpenAI's Files and Batch APIs), or null when the chain takes no tasks. */
  batches: BatchService | null
  /** The daemon's metrics, served by `GET /metrics`. */
  metrics: Metrics
  /** URL of the TCP listener, or null. */
  apiUrl: () => string | null
}
