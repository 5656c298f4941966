import { encode, decode, read, amount } from '../codec.js'
import {
  signingBytes,
  taggedHash,
  toHex,
  verifySignature,
  publicKeyOfPeerId,
  type Signer,
} from '../crypto.js'
import { CodecError, TxRejectedError } from '../errors.js'
import type { Overlay } from '../state/state.js'
import type { Params } from '../state/records.js'

/** SPEC 3.2: `{type, from, nonce, fee, body, signature}`. */
export interface Tx<B = unknown> {
  type: string
  /** Sender's peer id (its account address). */
  from: string
  nonce: number
  /** Base units paid to the block's proposer. */
  fee: bigint
  body: B
  sig: Uint8Array
}

/** A decoded transaction with its canonical bytes and hash. */
export interface SignedTx<B = unknown> extends Tx<B> {
  bytes: Uint8Array
  hash: Uint8Array
  hashHex: string
}

export interface TxContext {
  chainId: string
  height: number
  /** The block's time, ms. */
  time: number
  params: Params
}

/**
 * One transaction type's rules (one file each, STYLE 6). `apply` checks the body against state and
 * makes its changes in the overlay it is given, or throws TxRejectedError; the executor has already
 * checked signature, nonce and fee and discards the overlay on any throw.
 */
export interface TxType<B = unknown> {
  name: string
  encodeBody(body: B): unknown
  /** Validate and decode a body; throws CodecError. */
  decodeBody(value: unknown): B
  /** The body from the JSON a client posts (amounts as decimal strings); throws CodecError. */
  fromJson(json: unknown): B
  /** The body as JSON for people and the API (amounts as decimal strings). */
  toJson(body: B): unknown
  apply(state: Overlay, tx: Tx<B>, ctx: TxContext): void
  /**
   * No minimum fee: a transaction anyone must be able to send without coins (a Race proof: SPEC 4,
   * racing needs no stake and no prior weight). Its own rules must bound how often it can be sent.
   */
  feeExempt?: boolean
}

/** The smallest fee a transaction of type `t` may pay. */
export function minFee(t: TxType | undefined, minTxFee: bigint): bigint {
  return t?.feeExempt === true ? 0n : minTxFee
}

/** The transaction types a chain understands; later issues register theirs here. */
export class TxRegistry {
  private readonly types = new Map<string, TxType>()

  constructor(types: TxType<never>[]) {
    for (const t of types) this.register(t)
  }

  register<B>(t: TxType<B>): void {
    if (this.types.has(t.name)) throw new Error(`transaction type ${t.name} registered twice`)
    this.types.set(t.name, t as TxType)
  }

  get(name: string): TxType | undefined {
    return this.types.get(name)
  }
}

function unsignedBytes(chainId: string, tx: Omit<Tx, 'sig'>, t: TxType): Uint8Array {
  return encode([chainId, tx.type, tx.from, tx.nonce, amount(tx.fee), t.encodeBody(tx.body)])
}

/** Build and sign a transaction with `signer`'s key. */
export function signTx<B>(
  registry: TxRegistry,
  chainId: string,
  signer: Signer,
  fields: { type: string; nonce: number; fee: bigint; body: B },
): SignedTx<B> {
  const t = registry.get(fields.type)
  if (t === undefined) throw new TxRejectedError('UNKNOWN_TYPE', `unknown transaction type ${fields.type}`)
  const unsigned = { ...fields, from: signer.peerId }
  const sig = signer.sign(signingBytes('tx', unsignedBytes(chainId, unsigned, t)))
  return finish({ ...unsigned, sig }, t) as SignedTx<B>
}

function finish(tx: Tx, t: TxType): SignedTx {
  const bytes = encode([tx.type, tx.from, tx.nonce, amount(tx.fee), t.encodeBody(tx.body), tx.sig])
  const hash = taggedHash('cordex/tx', bytes)
  return { ...tx, bytes, hash, hashHex: toHex(hash) }
}

/** Decode a transaction of at most `maxBytes`; throws TxRejectedError (BAD_ENCODING, TOO_LARGE, UNKNOWN_TYPE, BAD_BODY). */
export function decodeTx(registry: TxRegistry, bytes: Uint8Array, maxBytes: number): SignedTx {
  let v: unknown
  try {
    v = decode(bytes, maxBytes, 'transaction')
  } catch (err) {
    const e = err as CodecError
    throw new TxRejectedError(e.code === 'TOO_LARGE' ? 'TOO_LARGE' : 'BAD_ENCODING', e.message)
  }
  try {
    const [type, from, nonce, fee, body, sig] = read.array(v, 6, 'transaction')
    const name = read.string(type, 32, 'type')
    const t = registry.get(name)
    if (t === undefined) throw new TxRejectedError('UNKNOWN_TYPE', `unknown transaction type ${name}`)
    const sender = read.string(from, 64, 'from')
    if (publicKeyOfPeerId(sender) === undefined)
      throw new CodecError('BAD_SHAPE', 'from: not an Ed25519 peer id', { what: 'from' })
    return finish(
      {
        type: name,
        from: sender,
        nonce: read.uint(nonce, 'nonce'),
        fee: read.amount(fee, 'fee'),
        body: t.decodeBody(body),
        sig: read.bytes(sig, 'signature', 64),
      },
      t,
    )
  } catch (err) {
    if (err instanceof TxRejectedError) throw err
    throw new TxRejectedError('BAD_BODY', (err as Error).message)
  }
}

/** True when the signature is the sender's, over this chain's signing bytes. */
export function verifyTx(registry: TxRegistry, chainId: string, tx: SignedTx): boolean {
  const t = registry.get(tx.type)
  if (t === undefined) return false
  return verifySignature(tx.from, signingBytes('tx', unsignedBytes(chainId, tx, t)), tx.sig)
}
