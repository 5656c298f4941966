// The verifier's pure checks (SPEC 6). No libp2p, no LevelDB: the node feeds them what it fetched.
export {
  checkTaskRecord,
  type TaskRecordLike,
  type SettledReceipt,
  type RequestReader,
  type RecordFailure,
  type RecordCheck,
} from './record.js'
export { checkDue, revealDue, type CheckDuty } from './plan.js'
