import { read, json } from '../../codec.js'
import { fromHex, toHex } from '../../crypto.js'
import { TxRejectedError } from '../../errors.js'
import { getEpoch } from '../../epoch/access.js'
import { getAudit, getVerifyParams, weightIn } from '../../verify/access.js'
import { revealKey } from '../../verify/audit.js'
import { checkSelectionKey } from '../../verify/select.js'
import type { TxType } from '../tx.js'

export interface VerifyKeyBody {
  epoch: number
  /** The sender's Ed25519 signature over (chain, epoch): its selection key for the epoch. */
  key: Uint8Array
}

/**
 * docs/verification.md, "Who checks what": a verifier reveals its selection key of an epoch once
 * the epoch is over and before its audit closes. The chain recomputes every selection of the
 * epoch from it: the checks assigned and done are the verifier's duty record, and sampled votes
 * the key does not select are void.
 */
export const verifyKey: TxType<VerifyKeyBody> = {
  name: 'VerifyKey',
  encodeBody: (b) => [b.epoch, b.key],
  decodeBody: (v) => {
    const [e, k] = read.array(v, 2, 'VerifyKey')
    return { epoch: read.uint(e, 'epoch'), key: read.bytes(k, 'key', 64) }
  },
  fromJson: (v) => {
    const o = json.object(v, 'body')
    const hex = read.string(o.key, 128, 'key')
    if (!/^[0-9a-f]{128}$/.test(hex)) throw new TxRejectedError('BAD_BODY', 'key: 128 hex digits')
    return { epoch: read.uint(o.epoch, 'epoch'), key: fromHex(hex) }
  },
  toJson: (b) => ({ epoch: b.epoch, key: toHex(b.key) }),
  apply: (s, tx, ctx) => {
    if (getVerifyParams(s) === undefined)
      throw new TxRejectedError('NO_VERIFICATION', 'this chain checks no tasks')
    const { epoch, key } = tx.body
    const current = getEpoch(s)?.number ?? 0
    // Revealing before the epoch ends would let executors see which of their tasks are watched.
    if (epoch >= current) throw new TxRejectedError('WRONG_EPOCH', `epoch ${epoch} is not over`)
    const audit = getAudit(s, epoch)
    if (audit === undefined || audit.closed)
      throw new TxRejectedError('AUDIT_CLOSED', `the audit of epoch ${epoch} is over`)
    if (weightIn(audit, tx.from) === 0)
      throw new TxRejectedError('NOT_VERIFIER', `the sender had no weight in epoch ${epoch}`)
    if (audit.duties.some(([p]) => p === tx.from))
      throw new TxRejectedError('KEY_REVEALED', 'this key is revealed already')
    if (!checkSelectionKey(tx.from, ctx.chainId, epoch, key))
      throw new TxRejectedError('BAD_KEY', 'the key is not the sender’s signature over the epoch')
    revealKey(s, audit, tx.from, key)
  },
}
