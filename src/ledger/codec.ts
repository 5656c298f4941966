import { encode as cborEncode, decode as cborDecode, Tokenizer, Type, type Token } from 'cborg'
import { CodecError } from './errors.js'

/**
 * SPEC 1: one canonical binary encoding for everything signed, hashed or sent: deterministic CBOR
 * (smallest integer forms, sorted map keys, no tags, no floats in ledger values). Decoding is
 * strict and re-encodes the result to check that the input was the one canonical form, so two
 * different byte strings never decode to the same message.
 */
export function encode(value: unknown): Uint8Array {
  return cborEncode(value)
}

/** Arrays and maps nested deeper than this are refused: no message of ours nests half as deep. */
export const MAX_DEPTH = 32

/**
 * cborg's tokenizer with two changes. Text strings are decoded again from their bytes, exactly (a
 * leading U+FEFF is text, not a byte-order mark to drop, or a string that starts with one could
 * never be decoded to what was signed) and strictly (invalid UTF-8 is refused rather than
 * replaced with U+FFFD). And nesting is bounded, so a few kilobytes of `0x81` cannot exhaust the
 * stack of the decoder, the re-encoder or whoever prints the value.
 */
class StrictTokenizer extends Tokenizer {
  /** Items still to come in each open array or map, innermost last. */
  private readonly open: number[] = []

  override next(): Token {
    const token = super.next()
    if (this.open.length > 0) this.open[this.open.length - 1]! -= 1
    if (token.type === Type.string && token.byteValue !== undefined)
      token.value = UTF8.decode(token.byteValue)
    else if ((token.type === Type.array || token.type === Type.map) && token.value > 0) {
      this.open.push(token.type === Type.map ? 2 * token.value : token.value)
      if (this.open.length > MAX_DEPTH) throw new Error(`nested deeper than ${MAX_DEPTH}`)
    }
    while (this.open.length > 0 && this.open[this.open.length - 1] === 0) this.open.pop()
    return token
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

const DECODE_OPTIONS = {
  strict: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowNaN: false,
  allowInfinity: false,
  // Amounts up to 2^64 - 1 (cborg's default, which a custom tokenizer does not inherit).
  allowBigInt: true,
  rejectDuplicateMapKeys: true,
  retainStringBytes: true,
} as const

/** Decode canonical CBOR of at most `maxBytes`; throws CodecError naming `what`. */
export function decode(bytes: Uint8Array, maxBytes: number, what: string): unknown {
  if (bytes.length > maxBytes) {
    throw new CodecError('TOO_LARGE', `${what}: ${bytes.length} bytes, over the limit of ${maxBytes}`, {
      what,
    })
  }
  let value: unknown
  try {
    value = cborDecode(bytes, { ...DECODE_OPTIONS, tokenizer: new StrictTokenizer(bytes, DECODE_OPTIONS) })
  } catch (err) {
    throw new CodecError('MALFORMED', `${what}: ${(err as Error).message}`, { what })
  }
  const again = cborEncode(value)
  if (again.length !== bytes.length || !again.every((b, i) => b === bytes[i])) {
    throw new CodecError('NOT_CANONICAL', `${what}: not in canonical form`, { what })
  }
  return value
}

/** Shape checks for decoded values; each throws a BAD_SHAPE CodecError. */
export const read = {
  array(v: unknown, len: number, what: string): unknown[] {
    if (!Array.isArray(v) || v.length !== len) throw shape(what, `an array of ${len}`)
    return v
  },
  list(v: unknown, max: number, what: string): unknown[] {
    if (!Array.isArray(v) || v.length > max) throw shape(what, `a list of at most ${max}`)
    return v
  },
  uint(v: unknown, what: string): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
      throw shape(what, 'a non-negative integer')
    return v
  },
  /** A base-unit amount: a non-negative integer below 2^64, as a bigint. */
  amount(v: unknown, what: string): bigint {
    const b = typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : v
    if (typeof b !== 'bigint' || b < 0n || b >= 1n << 64n) throw shape(what, 'an amount below 2^64')
    return b
  },
  string(v: unknown, max: number, what: string): string {
    if (typeof v !== 'string' || v.length > max) throw shape(what, `a string of at most ${max}`)
    return v
  },
  bytes(v: unknown, what: string, len?: number): Uint8Array {
    if (!(v instanceof Uint8Array) || (len !== undefined && v.length !== len)) {
      throw shape(what, len === undefined ? 'bytes' : `${len} bytes`)
    }
    return v
  },
  /** A list of at most `max` non-negative integers (nonces). */
  uints(v: unknown, max: number, what: string): number[] {
    return read.list(v, max, what).map((x) => read.uint(x, what))
  },
  bool(v: unknown, what: string): boolean {
    if (typeof v !== 'boolean') throw shape(what, 'a boolean')
    return v
  },
}

/** Amounts are bigints in memory; encode them as the smallest CBOR integer. */
export function amount(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v
}

function shape(what: string, expected: string): CodecError {
  return new CodecError('BAD_SHAPE', `${what}: expected ${expected}`, { what })
}

/** Read a field of a JSON object a client sent; amounts are decimal strings of base units. */
export const json = {
  object(v: unknown, what: string): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw shape(what, 'a JSON object')
    return v as Record<string, unknown>
  },
  amount(v: unknown, what: string): bigint {
    if (typeof v !== 'string' || !/^\d{1,20}$/.test(v)) throw shape(what, 'a decimal string of base units')
    return read.amount(BigInt(v), what)
  },
}
