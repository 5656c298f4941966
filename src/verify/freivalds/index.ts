// Freivalds audits of int8 integer products (SPEC 6.2, issue 13): pure, no libp2p, no onnxruntime.
export { FreivaldsError, type FreivaldsErrorCode, type FreivaldsErrorMeta } from './errors.js'
export { PrimeField, P31, MAX_PRIME, MAX_DIM, isPrime } from './field.js'
export {
  prepareRound,
  roundDigits,
  roundsFromProjection,
  jsProjector,
  rowPasses,
  checkRows,
  outputBound,
  DIGITS,
  type Round,
  type ProductRow,
  type Projector,
} from './check.js'
export {
  RowCommitter,
  RowTree,
  treeFromLeaves,
  verifyOpening,
  MAX_LEAVES,
  type ProductShape,
  type RowOpening,
} from './commitment.js'
export { deriveChallenge, type AuditParams, type ProductChallenge } from './challenge.js'
export { auditOpenings, type WeightSource, type AuditOptions, type AuditSummary } from './audit.js'
export { roundsMiss, avoidAll, hypergeometric, taskMiss, epochMiss, type CheatShape } from './soundness.js'
export { FREIVALDS_DEFAULTS } from './params.js'
export {
  TraceRecorder,
  encodeTrace,
  decodeTrace,
  openTrace,
  rowBytes,
  type AuditTrace,
  type RowRequest,
} from './trace.js'
export {
  checkChain,
  CHAIN_SCALE_TOLERANCE,
  type ChainModel,
  type ChainProduct,
  type ChainRow,
  type ChainInput,
  type ChainResult,
  type ChainPass,
  type ChainFail,
  type ChainFailure,
} from './chain.js'
