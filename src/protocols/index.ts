export { protocolPrefix, protocolId, topicName } from './ids.js'
export { ProtocolError, type ProtocolErrorCode, type PeerAction } from './errors.js'
export { ReqResp, ResponseCode, type ReqRespLimits, type RequestHandler } from './reqresp.js'
export { InfoProtocol, type NodeInfo } from './info/index.js'
export {
  InferProtocol,
  InferError,
  InferRefusal,
  type InferErrorCode,
  type InferHandler,
  type InferLimits,
  type InferOutcome,
  type InferRequest,
  type InferFrame,
  type TaskFinish,
  type TokenLimit,
  tokenLimit,
  taskFinish,
  withinBudget,
} from './infer/index.js'
export { PeerGuard, PENALTY, DEFAULT_GUARD_OPTIONS, type PeerGuardOptions } from './guard.js'
export {
  TaskProtocol,
  TaskOpenings,
  TaskFetchError,
  inferRequestReader,
  type OpeningsLookup,
  type TaskFetchErrorCode,
  type TaskLimits,
  type TaskRecordData,
  type TaskRecordLookup,
} from './task/index.js'
export {
  ProofProtocol,
  ProofFetchError,
  checkSamples,
  type ProofFetchErrorCode,
  type ProofLimits,
  type NonceTreeProvider,
} from './proof/index.js'
