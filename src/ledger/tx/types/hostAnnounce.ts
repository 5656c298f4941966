import { read, amount, json } from '../../codec.js'
import { getHost, putHost } from '../../state/access.js'
import type { TxType } from '../tx.js'

export interface HostAnnounceBody {
  /** Model ids served. */
  models: string[]
  /** Price vote per unit of compute, base units. */
  priceVote: bigint
  /** Engine fingerprint: runtime version, execution provider, model ids. */
  fingerprint: string
  /** Multiaddrs where the host takes `infer` streams. */
  addrs: string[]
}

/** HostAnnounce: publish or replace the sender's host record (SPEC 2). */
export const hostAnnounce: TxType<HostAnnounceBody> = {
  name: 'HostAnnounce',
  encodeBody: (b) => [b.models, amount(b.priceVote), b.fingerprint, b.addrs],
  decodeBody: (v) => {
    const [m, p, f, a] = read.array(v, 4, 'HostAnnounce')
    return fields(m, read.amount(p, 'priceVote'), f, a)
  },
  fromJson: (v) => {
    const o = json.object(v, 'body')
    return fields(o.models, json.amount(o.priceVote, 'priceVote'), o.fingerprint, o.addrs)
  },
  toJson: (b) => ({ ...b, priceVote: b.priceVote.toString() }),
  apply: (s, tx, ctx) => {
    const since = getHost(s, tx.from)?.since ?? ctx.height
    putHost(s, tx.from, { ...tx.body, since })
  },
}

function fields(models: unknown, priceVote: bigint, fingerprint: unknown, addrs: unknown): HostAnnounceBody {
  return {
    models: read.list(models, 64, 'models').map((x) => read.string(x, 128, 'model')),
    priceVote,
    fingerprint: read.string(fingerprint, 256, 'fingerprint'),
    addrs: read.list(addrs, 16, 'addrs').map((x) => read.string(x, 256, 'addr')),
  }
}
