import { encode, decode } from '../../ledger/codec.js'
import { ProtocolError } from '../errors.js'

/** What a daemon tells a peer that asks `/cordex/<network>/info/1.0.0`. */
export interface NodeInfo {
  /** Network id the daemon runs on. */
  network: string
  /** Cordex version string. */
  version: string
  /** Milliseconds the daemon has been running. */
  uptimeMs: number
}

export const INFO_MAX_BYTES = 1024

export function encodeInfo(info: NodeInfo): Uint8Array {
  return encode({ network: info.network, version: info.version, uptimeMs: info.uptimeMs })
}

/** Decode and validate an info response; anything unexpected is a MALFORMED ProtocolError. */
export function decodeInfo(bytes: Uint8Array, protocol: string): NodeInfo {
  const bad = (why: string): ProtocolError =>
    new ProtocolError('MALFORMED', `info: ${why}`, { protocol, action: 'reject' })
  let value: unknown
  try {
    value = decode(bytes, INFO_MAX_BYTES, 'info')
  } catch (err) {
    throw bad((err as Error).message)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array)
    throw bad('not a map')
  // Exactly the three fields: one message, one encoding.
  if (Object.keys(value).length !== 3) throw bad('unexpected fields')
  const v = value as Record<string, unknown>
  if (typeof v.network !== 'string' || typeof v.version !== 'string') throw bad('missing network or version')
  if (typeof v.uptimeMs !== 'number' || !Number.isSafeInteger(v.uptimeMs) || v.uptimeMs < 0)
    throw bad('bad uptimeMs')
  return { network: v.network, version: v.version, uptimeMs: v.uptimeMs }
}
