export { Daemon, StartAbortedError, type DaemonOptions } from './daemon.js'
export { initDataDir, devGenesis, BASE_UNITS_PER_COIN, type InitOptions, type InitResult } from './init.js'
export { dataDirPaths, readPid, DataDirError, type DataDirPaths } from './dataDir.js'
export { IdentityError } from './identity.js'
export { readApiToken, ApiTokenError } from './apiToken.js'
export {
  ConfigError,
  loadConfig,
  NETWORKS,
  type Config,
  type DeepPartial,
  type GenesisConfig,
} from './config/index.js'
export { buildLibp2p, routingTableSize, type CordexLibp2p } from './libp2p.js'
export type {
  StatusView,
  PeerView,
  ReportView,
  HostView,
  ChainTaskView,
  Verification,
  SyntheticView,
} from './api/index.js'
export type { ModelGovernanceView, PendingModelView, ModelTxView } from './api/index.js'
