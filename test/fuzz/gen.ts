import { encode as cborEncode } from 'cborg'

// Seeded input generators for the fuzz suite: random bytes, raw CBOR (canonical or not), CBOR-shaped
// values, JSON, strings that trip decoders (U+FEFF, lone surrogates, invalid UTF-8), boundary
// integers and sizes, and mutations of valid encodings. Everything draws from one Rng, so a seed
// reproduces every input exactly.

/** sfc32: a small, fast generator with 128 bits of state; `fork` derives independent streams. */
export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor(seed: string | number) {
    const h = hash128(String(seed))
    ;[this.a, this.b, this.c, this.d] = h
    for (let i = 0; i < 12; i++) this.u32()
  }

  /** An independent generator for `label`, so one target's draws never shift another's. */
  fork(label: string): Rng {
    return new Rng(`${this.u32()}/${label}`)
  }

  u32(): number {
    this.a >>>= 0
    this.b >>>= 0
    this.c >>>= 0
    this.d >>>= 0
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }

  /** An integer in [0, n). */
  int(n: number): number {
    if (n <= 1) return 0
    if (n <= 0x1_0000_0000) return Math.floor((this.u32() / 0x1_0000_0000) * n)
    return Math.floor(((this.u32() * 0x1_0000_0000 + this.u32()) / 2 ** 64) * n)
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1)
  }

  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p
  }

  pick<T>(list: readonly T[]): T {
    if (list.length === 0) throw new Error('pick from an empty list')
    return list[this.int(list.length)]!
  }

  /** A length skewed towards small ones: mostly under 16, sometimes up to `max`. */
  len(max: number): number {
    const r = this.int(100)
    if (r < 50) return this.int(Math.min(16, max + 1))
    if (r < 85) return this.int(Math.min(256, max + 1))
    return this.int(max + 1)
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i += 4) {
      const v = this.u32()
      out[i] = v & 0xff
      if (i + 1 < n) out[i + 1] = (v >>> 8) & 0xff
      if (i + 2 < n) out[i + 2] = (v >>> 16) & 0xff
      if (i + 3 < n) out[i + 3] = v >>> 24
    }
    return out
  }
}

function hash128(s: string): [number, number, number, number] {
  // Four FNV-1a variants with different offsets: enough to spread seeds, not cryptographic.
  const out: [number, number, number, number] = [0x811c9dc5, 0x01000193, 0xdeadbeef, 0x9e3779b9]
  for (let k = 0; k < 4; k++) {
    let h = out[k]!
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i) + k
      h = Math.imul(h, 0x01000193)
    }
    out[k] = h >>> 0
  }
  return out
}

/** Sizes on either side of the limits decoders and framers care about. */
export const BOUNDARY_SIZES = [
  0, 1, 2, 23, 24, 25, 63, 64, 65, 127, 128, 255, 256, 257, 511, 512, 1023, 1024, 1025, 4095, 4096, 4097,
  16383, 16384, 16385, 65535, 65536, 65537,
]

/** Integers at the edges of CBOR's encodings and of JavaScript's safe range. */
export const BOUNDARY_INTS: Array<number | bigint> = [
  0,
  1,
  -1,
  23,
  24,
  255,
  256,
  65535,
  65536,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32 - 1,
  2 ** 32,
  -(2 ** 31),
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
  2n ** 53n,
  2n ** 53n + 1n,
  2n ** 63n - 1n,
  2n ** 63n,
  2n ** 64n - 1n,
  -(2n ** 64n),
  -(2n ** 53n) - 1n,
]

const WEIRD_PIECES = [
  '\uFEFF',
  '\uD800',
  '\uDFFF',
  '\uDBFF\uDFFF',
  '\u0000',
  '\u202E',
  '\u2028',
  'é',
  'e\u0301',
  '𝄞',
  '\uFFFD',
  '\uFFFF',
  '%',
  '%zz',
  '%E0%A4%A',
  '../',
  '\\',
  '"',
  "'",
  '\r\n',
  ' ',
  'a',
  '0',
  'Transfer',
  '12D3KooW',
  'null',
]

/** A string made of pieces that trip text handling; sometimes long. */
export function weirdString(rng: Rng, maxPieces = 8): string {
  if (rng.chance(0.05)) return rng.pick(WEIRD_PIECES).repeat(rng.pick([64, 129, 257, 1025, 5000]))
  let s = ''
  const n = rng.int(maxPieces + 1)
  for (let i = 0; i < n; i++) s += rng.chance(0.6) ? rng.pick(WEIRD_PIECES) : asciiString(rng, 6)
  return s
}

export function asciiString(rng: Rng, max: number): string {
  let s = ''
  const n = rng.len(max)
  for (let i = 0; i < n; i++) s += String.fromCharCode(rng.range(0x20, 0x7e))
  return s
}

/** UTF-8 byte sequences that are not valid UTF-8 (overlong, surrogates, out of range, truncated). */
export const INVALID_UTF8: Uint8Array[] = [
  [0xc0, 0x80],
  [0xc1, 0xbf],
  [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xff],
  [0xfe],
  [0xe0, 0xa4],
  [0x80],
  [0xef, 0xbb, 0xbf],
].map((b) => Uint8Array.from(b))

/** Bytes: uniform, constant runs, or boundary-sized. */
export function randomBytes(rng: Rng, max: number): Uint8Array {
  const r = rng.int(10)
  if (r === 0) {
    const sizes = BOUNDARY_SIZES.filter((s) => s <= max)
    return new Uint8Array(rng.pick(sizes)).fill(rng.pick([0x00, 0xff, 0x80, 0x9f, 0xbf, 0x41]))
  }
  return rng.bytes(rng.len(max))
}

/** Byte writer for raw CBOR. */
class Out {
  private parts: number[] = []
  push(...b: number[]): void {
    for (const x of b) this.parts.push(x & 0xff)
  }
  append(b: Uint8Array): void {
    for (const x of b) this.parts.push(x)
  }
  get length(): number {
    return this.parts.length
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts)
  }
}

/** A CBOR head for major type `major` and argument `arg`, in the smallest form or, if `loose`, any wider one. */
function head(out: Out, major: number, arg: bigint, loose: boolean, rng: Rng): void {
  const m = major << 5
  const widths: Array<[number, bigint]> = [
    [24, 0xffn],
    [25, 0xffffn],
    [26, 0xffff_ffffn],
    [27, 0xffff_ffff_ffff_ffffn],
  ]
  if (arg < 24n && !(loose && rng.chance(0.5))) {
    out.push(m | Number(arg))
    return
  }
  const fits = widths.filter(([, maxv]) => arg <= maxv)
  const [ai] = loose ? rng.pick(fits) : fits[0]!
  out.push(m | ai)
  const n = 1 << (ai - 24)
  for (let i = n - 1; i >= 0; i--) out.push(Number((arg >> BigInt(i * 8)) & 0xffn))
}

/**
 * A raw CBOR item, valid or not: every major type, lengths that lie, non-minimal heads, indefinite
 * lengths, tags, floats (NaN, ±Infinity, -0), simple values, stray break codes, deep nesting.
 */
export function rawCbor(rng: Rng, opts: { depth?: number; loose?: boolean } = {}): Uint8Array {
  const out = new Out()
  const loose = opts.loose ?? rng.chance(0.3)
  if (rng.chance(0.03)) {
    // Deep nesting: arrays or maps of one, many levels down.
    const depth = rng.pick([64, 512, 4096, 20_000])
    const opener = rng.pick([0x81, 0x9f, 0xa1, 0xd8])
    for (let i = 0; i < depth; i++) {
      out.push(opener)
      if (opener === 0xa1) out.push(0x61, 0x61)
      if (opener === 0xd8) out.push(rng.int(256))
    }
    out.push(0x00)
    return out.bytes()
  }
  item(rng, out, opts.depth ?? 4, loose)
  return out.bytes()
}

function item(rng: Rng, out: Out, depth: number, loose: boolean): void {
  const kind = rng.int(depth <= 0 ? 5 : 9)
  switch (kind) {
    case 0: // unsigned
      head(out, 0, bigArg(rng), loose, rng)
      return
    case 1: // negative
      head(out, 1, bigArg(rng), loose, rng)
      return
    case 2: {
      // bytes; sometimes a length that lies
      const b = randomBytes(rng, 80)
      head(out, 2, lie(rng, b.length), loose, rng)
      out.append(b)
      return
    }
    case 3: {
      // text: valid, weird, or invalid UTF-8
      const b = rng.chance(0.3)
        ? concat(rng.pick(INVALID_UTF8), new TextEncoder().encode(asciiString(rng, 8)))
        : new TextEncoder().encode(weirdString(rng, 4))
      head(out, 3, lie(rng, b.length), loose, rng)
      out.append(b)
      return
    }
    case 4: {
      // simple values and floats
      out.push(
        rng.pick([
          0xf4, 0xf5, 0xf6, 0xf7, 0xff, 0xf0, 0xf8, 0xfc, 0xf9, 0xfa, 0xfb, 0xe0, 0xe1, 0x1c, 0x1d, 0x1e,
          0x1f, 0x5f, 0x7f,
        ]),
      )
      if (rng.chance(0.5)) {
        const floats: number[][] = [
          [0xf9, 0x7e, 0x00],
          [0xf9, 0x7c, 0x00],
          [0xf9, 0xfc, 0x00],
          [0xf9, 0x80, 0x00],
          [0xfa, 0x47, 0xc3, 0x50, 0x00],
          [0xfb, 0x3f, 0xf1, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a],
          [0xfb, 0x43, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
          [0xf9, 0x3c, 0x00],
        ]
        out.push(...rng.pick(floats))
      }
      return
    }
    case 5:
    case 6: {
      // array, definite or not
      const n = rng.len(6)
      if (rng.chance(0.15)) out.push(0x9f)
      else head(out, 4, lie(rng, n), loose, rng)
      for (let i = 0; i < n; i++) item(rng, out, depth - 1, loose)
      if (rng.chance(0.15)) out.push(0xff)
      return
    }
    case 7: {
      // map; keys strings mostly, sometimes repeated, unsorted, or not strings
      const n = rng.len(5)
      if (rng.chance(0.1)) out.push(0xbf)
      else head(out, 5, lie(rng, n), loose, rng)
      for (let i = 0; i < n; i++) {
        if (rng.chance(0.8)) {
          const k = new TextEncoder().encode(rng.pick(['a', 'b', 'network', 'version', 'uptimeMs', '']))
          head(out, 3, BigInt(k.length), false, rng)
          out.append(k)
        } else item(rng, out, 0, loose)
        item(rng, out, depth - 1, loose)
      }
      return
    }
    default: {
      // tag
      head(out, 6, rng.pick([0n, 1n, 2n, 3n, 24n, 42n, 55799n, bigArg(rng)]), loose, rng)
      item(rng, out, depth - 1, loose)
    }
  }
}

function bigArg(rng: Rng): bigint {
  const r = rng.int(6)
  if (r === 0) return BigInt(rng.int(24))
  if (r === 1) return BigInt(rng.int(256))
  if (r === 2) return BigInt(rng.u32())
  if (r === 3) return (BigInt(rng.u32()) << 32n) | BigInt(rng.u32())
  return rng.pick([
    23n,
    24n,
    255n,
    256n,
    65535n,
    65536n,
    2n ** 32n - 1n,
    2n ** 32n,
    2n ** 53n - 1n,
    2n ** 53n,
    2n ** 63n,
    2n ** 64n - 1n,
  ])
}

/** Mostly the true length; sometimes one off, or absurdly large. */
function lie(rng: Rng, n: number): bigint {
  const r = rng.int(20)
  if (r === 0) return BigInt(n + 1)
  if (r === 1 && n > 0) return BigInt(n - 1)
  if (r === 2) return rng.pick([2n ** 31n, 2n ** 32n - 1n, 2n ** 53n, 2n ** 64n - 1n])
  return BigInt(n)
}

/**
 * A value for cborg to encode canonically, so that inputs get past the CBOR layer to the shape
 * checks: boundary integers, bigints at 2^64, floats, strings, bytes, deep and wide lists, maps.
 */
export function cborValue(rng: Rng, depth = 3): unknown {
  const r = rng.int(depth <= 0 ? 7 : 10)
  switch (r) {
    case 0:
      return rng.pick(BOUNDARY_INTS)
    case 1:
      return rng.int(1000)
    case 2:
      return rng.pick([1.5, -0.5, 0.1, 1e300, -1e-300, 3.4e38, 65504.5])
    case 3:
      return weirdString(rng)
    case 4:
      return randomBytes(rng, 96)
    case 5:
      return rng.pick([null, true, false])
    case 6:
      return rng.pick([new Uint8Array(32), new Uint8Array(64), new Uint8Array(31), new Uint8Array(65)])
    case 7: {
      if (rng.chance(0.1)) return Array.from({ length: rng.pick([100, 1000, 10_000]) }, () => 0)
      return Array.from({ length: rng.len(8) }, () => cborValue(rng, depth - 1))
    }
    case 8: {
      if (rng.chance(0.05)) {
        let v: unknown = 0
        for (let i = rng.pick([50, 200, 1000]); i > 0; i--) v = [v]
        return v
      }
      const o: Record<string, unknown> = {}
      for (let i = rng.len(5); i > 0; i--)
        o[rng.chance(0.5) ? weirdString(rng, 2) : asciiString(rng, 8)] = cborValue(rng, depth - 1)
      return o
    }
    default:
      return Array.from({ length: rng.len(4) }, () => cborValue(rng, depth - 1))
  }
}

/** Canonical CBOR of `v`, or undefined where cborg refuses it (bigints beyond 64 bits...). */
export function encodeOrUndefined(v: unknown): Uint8Array | undefined {
  try {
    return cborEncode(v)
  } catch {
    return undefined
  }
}

/** A replacement for one node of a decoded value: same kind nudged to a boundary, or anything. */
function replacement(rng: Rng, old: unknown, donors: readonly Uint8Array[]): unknown {
  if (rng.chance(0.4)) return cborValue(rng, 2)
  if (typeof old === 'number' || typeof old === 'bigint') {
    const n = typeof old === 'bigint' ? old : BigInt(Number.isInteger(old) ? old : 0)
    const cands: unknown[] = [n + 1n, n - 1n, -n, 0, -1, 2n ** 64n - 1n, 2n ** 64n, 2n ** 53n, 1.5, 2 ** 53]
    return rng.pick(cands)
  }
  if (typeof old === 'string') {
    const cands = [
      '',
      old + rng.pick(['\uFEFF', '\uD800', 'x']),
      '\uFEFF' + old,
      old.slice(0, Math.max(0, old.length - 1)),
      old.repeat(rng.pick([2, 40, 400])),
      old.toUpperCase(),
    ]
    return rng.pick(cands)
  }
  if (old instanceof Uint8Array) {
    const cands = [
      old.subarray(0, Math.max(0, old.length - 1)),
      concat(old, Uint8Array.of(0)),
      new Uint8Array(old.length),
      flipBit(rng, old),
      donors.length > 0 ? rng.pick(donors) : new Uint8Array(0),
      new TextDecoder().decode(old),
    ]
    return rng.pick(cands)
  }
  if (Array.isArray(old)) {
    const a = [...(old as unknown[])]
    const r = rng.int(5)
    if (r === 0) a.pop()
    else if (r === 1) a.push(cborValue(rng, 1))
    else if (r === 2 && a.length > 0) a.push(a[rng.int(a.length)])
    else if (r === 3) a.reverse()
    else return Object.fromEntries(a.map((v, i) => [String(i), v]))
    return a
  }
  if (old === null) return rng.pick([0, false, new Uint8Array(0), [], {}])
  return cborValue(rng, 2)
}

/**
 * Replace one node of `value` (a decoded template) with something else, then encode it
 * canonically: the shape is almost right, so the input reaches the deepest field checks. `donors`
 * are valid encodings of other messages, spliced in where the template holds bytes.
 */
export function mutateValue(rng: Rng, value: unknown, donors: readonly Uint8Array[] = []): unknown {
  const nodes: Array<{ parent: unknown[] | Record<string, unknown> | null; key: number | string }> = [
    { parent: null, key: 0 },
  ]
  const walk = (v: unknown, depth: number): void => {
    if (depth > 12) return
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        nodes.push({ parent: v, key: i })
        walk(x, depth + 1)
      })
    } else if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) {
      for (const [k, x] of Object.entries(v)) {
        nodes.push({ parent: v as Record<string, unknown>, key: k })
        walk(x, depth + 1)
      }
    }
  }
  const copy = structuredClone(value)
  walk(copy, 0)
  const times = rng.chance(0.8) ? 1 : rng.range(2, 4)
  let root: unknown = copy
  for (let t = 0; t < times; t++) {
    const n = rng.pick(nodes)
    if (n.parent === null) {
      root = replacement(rng, root, donors)
      continue
    }
    const p = n.parent as Record<string | number, unknown>
    if (!Array.isArray(p) && rng.chance(0.2)) {
      delete p[n.key]
      if (rng.chance(0.5)) p[weirdString(rng, 2)] = cborValue(rng, 1)
      continue
    }
    p[n.key] = replacement(rng, p[n.key], donors)
  }
  return root
}

export function flipBit(rng: Rng, b: Uint8Array): Uint8Array {
  if (b.length === 0) return Uint8Array.of(rng.int(256))
  const out = Uint8Array.from(b)
  const i = rng.int(out.length)
  out[i] = out[i]! ^ (1 << rng.int(8))
  return out
}

/**
 * A byte-level mutation of a valid encoding: bit flips, interesting bytes, truncation, extension,
 * deletion, duplication, splices from other valid encodings, a head rewritten to claim more.
 */
export function mutateBytes(rng: Rng, input: Uint8Array, donors: readonly Uint8Array[] = []): Uint8Array {
  let b: Uint8Array = Uint8Array.from(input)
  const rounds = rng.chance(0.7) ? 1 : rng.range(2, 6)
  for (let r = 0; r < rounds; r++) {
    const at = rng.int(b.length + 1)
    switch (rng.int(10)) {
      case 0:
        b = flipBit(rng, b)
        break
      case 1:
        if (b.length > 0)
          b[Math.min(at, b.length - 1)] = rng.pick([0x00, 0xff, 0x7f, 0x80, 0x18, 0x1b, 0x9f, 0xbf])
        break
      case 2:
        b = b.subarray(0, at)
        break
      case 3:
        b = concat(b, randomBytes(rng, 32))
        break
      case 4: {
        const end = Math.min(b.length, at + rng.range(1, 16))
        b = concat(b.subarray(0, at), b.subarray(end))
        break
      }
      case 5: {
        const end = Math.min(b.length, at + rng.range(1, 32))
        b = concat(b.subarray(0, end), b.subarray(at, end), b.subarray(end))
        break
      }
      case 6: {
        if (donors.length === 0) break
        const d = rng.pick(donors)
        const from = rng.int(d.length + 1)
        const piece = d.subarray(from, from + rng.range(1, 64))
        b = concat(b.subarray(0, at), piece, b.subarray(at + (rng.chance(0.5) ? piece.length : 0)))
        break
      }
      case 7: {
        // Rewrite one byte as a head with a huge argument.
        if (b.length === 0) break
        const i = Math.min(at, b.length - 1)
        const major = (b[i]! >> 5) << 5
        b = concat(
          b.subarray(0, i),
          Uint8Array.of(major | 27, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
          b.subarray(i + 1),
        )
        break
      }
      case 8:
        b = concat(b.subarray(0, at), Uint8Array.of(rng.int(256)), b.subarray(at))
        break
      default: {
        // Swap two bytes.
        if (b.length < 2) break
        const i = rng.int(b.length)
        const j = rng.int(b.length)
        const t = b[i]!
        b[i] = b[j]!
        b[j] = t
      }
    }
  }
  return b
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let off = 0
  for (const p of parts) {
    out.set(p, off)
    off += p.length
  }
  return out
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** An unsigned LEB128 varint, as libp2p's length prefixes use; `n` may exceed 2^53 as a bigint. */
export function varint(n: number | bigint): Uint8Array {
  let v = BigInt(n)
  const out: number[] = []
  do {
    const byte = Number(v & 0x7fn)
    v >>= 7n
    out.push(v > 0n ? byte | 0x80 : byte)
  } while (v > 0n)
  return Uint8Array.from(out)
}

/** A random JSON value: wrong types, huge and tiny numbers, weird strings, deep and wide nesting. */
export function jsonValue(rng: Rng, depth = 3): unknown {
  const r = rng.int(depth <= 0 ? 6 : 9)
  switch (r) {
    case 0:
      return rng.pick([0, -1, 1, 1.5, -0, 2 ** 53, 2 ** 64, 1e308, -1e308, 5e-324, 1.2345678901234568e29])
    case 1:
      return weirdString(rng)
    case 2:
      return rng.pick([null, true, false])
    case 3:
      return rng.pick([
        '0',
        '1',
        '-1',
        '18446744073709551615',
        '18446744073709551616',
        '1e3',
        ' 1',
        '0x10',
        '',
      ])
    case 4:
      return asciiString(rng, 40)
    case 5:
      return rng.int(100)
    case 6: {
      if (rng.chance(0.05)) return Array.from({ length: rng.pick([1000, 20_000]) }, () => 1)
      return Array.from({ length: rng.len(6) }, () => jsonValue(rng, depth - 1))
    }
    default: {
      const o: Record<string, unknown> = {}
      for (let i = rng.len(6); i > 0; i--)
        o[rng.chance(0.3) ? weirdString(rng, 2) : asciiString(rng, 10)] = jsonValue(rng, depth - 1)
      return o
    }
  }
}

/** JSON text nested `depth` levels deep: `[[[...]]]` or `{"a":{"a":...}}`. */
export function deepJson(depth: number, map: boolean): string {
  return map ? '{"a":'.repeat(depth) + '1' + '}'.repeat(depth) : '['.repeat(depth) + ']'.repeat(depth)
}

/** JSON text that is malformed in one of the ways parsers stumble on. */
export function badJsonText(rng: Rng): string {
  return rng.pick([
    '{',
    '}',
    '{"a":}',
    '[1,]',
    '{"a":1,}',
    "{'a':1}",
    'NaN',
    'Infinity',
    '\uFEFF{}',
    '{"a":"\\ud800"',
    '"\\u12"',
    '01',
    '{"__proto__":{"x":1}}',
    '{"constructor":{"prototype":{"x":1}}}',
    '\u0000',
    '[' + '1,'.repeat(1000),
    'true false',
    '{"a":1}{"b":2}',
  ])
}
