import type { ApiRoute } from './server.js'
import type { ApiContext } from './context.js'
import { statusRoute } from './routes/status.js'
import { peersRoute, peerInfoRoute } from './routes/peers.js'
import { findPeerRoute } from './routes/dht.js'
import { epochRoute, raceRoute } from './routes/race.js'
import { payoutRoute, supplyRoute } from './routes/supply.js'
import {
  headRoute,
  blockRoute,
  txStatusRoute,
  accountRoute,
  submitTxRoute,
  finalityRoute,
} from './routes/ledger.js'
import { modelsRoute, completionsRoute, chatCompletionsRoute } from './routes/openai.js'
import { taskRoute, reportRoute, recentTasksRoute } from './routes/tasks.js'
import { hostRoute } from './routes/hosts.js'
import { modelGovernanceRoute, modelProposeRoute, modelVoteRoute } from './routes/models.js'
import { priceRoute } from './routes/price.js'
import { syntheticRoute } from './routes/synthetic.js'
import {
  uploadFileRoute,
  listFilesRoute,
  fileRoute,
  fileContentRoute,
  deleteFileRoute,
} from './routes/files.js'
import { createBatchRoute, batchRoute, listBatchesRoute, cancelBatchRoute } from './routes/batch.js'
import { metricsRoute } from './routes/metrics.js'

export { ApiServer, EventStream, type ApiRoute, type ApiServerOptions, type ApiRequest } from './server.js'
export { HttpError, errorBody } from './errors.js'
export type { ApiContext } from './context.js'
export type { StatusView } from './routes/status.js'
export type { PeerView } from './routes/peers.js'
export type { ReportView, RecentTaskView } from './routes/tasks.js'
export type { HostView } from './views/hostView.js'
export type { ModelTxView } from './routes/models.js'
export type { ModelGovernanceView, PendingModelView } from './views/modelsView.js'
export type { PriceView } from './routes/price.js'
export type { SyntheticView } from './routes/synthetic.js'
export type { Verification, ChainTaskView } from './views/taskView.js'

/** Every route of the control socket. */
export function apiRoutes(ctx: ApiContext): ApiRoute[] {
  return [
    statusRoute(ctx),
    peersRoute(ctx),
    peerInfoRoute(ctx),
    findPeerRoute(ctx),
    headRoute(ctx),
    blockRoute(ctx),
    txStatusRoute(ctx),
    accountRoute(ctx),
    submitTxRoute(ctx),
    finalityRoute(ctx),
    supplyRoute(ctx),
    payoutRoute(ctx),
    epochRoute(ctx),
    raceRoute(ctx),
    modelsRoute(ctx),
    completionsRoute(ctx),
    chatCompletionsRoute(ctx),
    uploadFileRoute(ctx),
    listFilesRoute(ctx),
    fileRoute(ctx),
    fileContentRoute(ctx),
    deleteFileRoute(ctx),
    createBatchRoute(ctx),
    listBatchesRoute(ctx),
    batchRoute(ctx),
    cancelBatchRoute(ctx),
    recentTasksRoute(ctx),
    taskRoute(ctx),
    reportRoute(ctx),
    hostRoute(ctx),
    modelGovernanceRoute(ctx),
    modelProposeRoute(ctx),
    modelVoteRoute(ctx),
    priceRoute(ctx),
    syntheticRoute(ctx),
    metricsRoute(ctx),
  ]
}
