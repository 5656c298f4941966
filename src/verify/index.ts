// The verifier's pure checks (SPEC 6). No libp2p, no LevelDB: the node feeds them what it fetched.
export {
  checkTaskRecord,
  type TaskRecordLike,
  type SettledReceipt,
  type RequestReader,
  type RecordFailure,
  type RecordCheck,
} from './record.js'
export { checksDue, keptAudits, revealDue, type CheckDuty, type DueCheck } from './plan.js'
export {
  FreivaldsError,
  PrimeField,
  RowCommitter,
  RowTree,
  verifyOpening,
  deriveChallenge,
  auditOpenings,
  roundDigits,
  roundsFromProjection,
  taskMiss,
  epochMiss,
  FREIVALDS_DEFAULTS,
  type FreivaldsErrorCode,
  type ProductShape,
  type RowOpening,
  type AuditParams,
  type ProductChallenge,
  type WeightSource,
  type Round,
} from './freivalds/index.js'
