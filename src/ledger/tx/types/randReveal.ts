import { read, json } from '../../codec.js'
import { TxRejectedError } from '../../errors.js'
import { getEpoch, putEpoch } from '../../epoch/access.js'
import { revealMatches } from '../../epoch/seed.js'
import type { TxType } from '../tx.js'
import { inPhase, hex32 } from './randCommit.js'

export interface RandRevealBody {
  epoch: number
  secret: Uint8Array
}

/** SPEC 4 reveal phase: the secret behind the sender's commitment. */
export const randReveal: TxType<RandRevealBody> = {
  name: 'RandReveal',
  encodeBody: (b) => [b.epoch, b.secret],
  decodeBody: (v) => {
    const [e, sec] = read.array(v, 2, 'RandReveal')
    return { epoch: read.uint(e, 'epoch'), secret: read.bytes(sec, 'secret', 32) }
  },
  fromJson: (v) => {
    const o = json.object(v, 'body')
    return { epoch: read.uint(o.epoch, 'epoch'), secret: hex32(o.secret) }
  },
  toJson: (b) => ({ epoch: b.epoch, secret: Buffer.from(b.secret).toString('hex') }),
  apply: (s, tx) => {
    const e = inPhase(getEpoch(s), 'reveal', tx.body.epoch)
    const committed = e.commits.find(([id]) => id === tx.from)
    if (committed === undefined) throw new TxRejectedError('BAD_REVEAL', 'no commitment from this sender')
    if (e.reveals.some(([id]) => id === tx.from)) throw new TxRejectedError('DUPLICATE', 'already revealed')
    if (!revealMatches(tx.body.secret, tx.from, committed[1])) {
      throw new TxRejectedError('BAD_REVEAL', 'the secret does not match the commitment')
    }
    putEpoch(s, { ...e, reveals: [...e.reveals, [tx.from, tx.body.secret]] })
  },
}
