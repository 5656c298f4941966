import { read, json } from '../../codec.js'
import { CodecError, TxRejectedError } from '../../errors.js'
import { getEpoch, putEpoch } from '../../epoch/access.js'
import { getValidatorEntries } from '../../state/access.js'
import type { TxType } from '../tx.js'
import type { EpochState } from '../../epoch/records.js'

export interface RandCommitBody {
  epoch: number
  /** `H("cordex/race/commit", secret ‖ peerId)`. */
  hash: Uint8Array
}

/** SPEC 4 commit phase: a validator binds itself to a secret it will reveal. */
export const randCommit: TxType<RandCommitBody> = {
  name: 'RandCommit',
  encodeBody: (b) => [b.epoch, b.hash],
  decodeBody: (v) => {
    const [e, h] = read.array(v, 2, 'RandCommit')
    return { epoch: read.uint(e, 'epoch'), hash: read.bytes(h, 'hash', 32) }
  },
  fromJson: (v) => {
    const o = json.object(v, 'body')
    return { epoch: read.uint(o.epoch, 'epoch'), hash: hex32(o.hash) }
  },
  toJson: (b) => ({ epoch: b.epoch, hash: Buffer.from(b.hash).toString('hex') }),
  apply: (s, tx) => {
    const e = inPhase(getEpoch(s), 'commit', tx.body.epoch)
    if (!getValidatorEntries(s).some((v) => v.id === tx.from)) {
      throw new TxRejectedError('NOT_VALIDATOR', 'only validators commit to the Race seed')
    }
    if (e.commits.some(([id]) => id === tx.from))
      throw new TxRejectedError('DUPLICATE', 'already committed this epoch')
    putEpoch(s, { ...e, commits: [...e.commits, [tx.from, tx.body.hash]] })
  },
}

/** The epoch record, if it is in `phase` of epoch `epoch`; else the reason, as a TxRejectedError. */
export function inPhase(e: EpochState | undefined, phase: EpochState['phase'], epoch: number): EpochState {
  if (e === undefined) throw new TxRejectedError('WRONG_PHASE', 'this chain runs no Races')
  if (e.number !== epoch)
    throw new TxRejectedError('WRONG_EPOCH', `epoch ${epoch}, but the current epoch is ${e.number}`)
  if (e.phase !== phase)
    throw new TxRejectedError('WRONG_PHASE', `epoch ${e.number} is in its ${e.phase} phase, not ${phase}`)
  return e
}

export function hex32(v: unknown): Uint8Array {
  if (typeof v !== 'string' || !/^[0-9a-f]{64}$/.test(v)) {
    throw new CodecError('BAD_SHAPE', 'expected 32 bytes in hex', { what: 'hex' })
  }
  return new Uint8Array(Buffer.from(v, 'hex'))
}
