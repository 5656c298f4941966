import { createCipheriv } from 'node:crypto'

// Words are little-endian; Uint32Array reads the platform's order, so insist on little-endian.
if (new Uint8Array(Uint32Array.of(1).buffer)[0] !== 1)
  throw new Error('the Race needs a little-endian platform')

/**
 * The Race's counter-mode PRNG (docs/race-function.md, "PRNG"): stream `s` under a 32-byte key is
 * the AES-256 keystream of the counter blocks `u32be(s) ‖ u32be(0) ‖ u64be(i)`, i = 0, 1, 2, ...
 * (AES-256-CTR over zero bytes), read as little-endian uint32 words. Standard, fast (AES-NI), and
 * bit-identical in any language.
 */
export class Stream {
  private readonly cipher
  private buf: Uint32Array = new Uint32Array(0)
  private pos = 0

  constructor(key: Uint8Array, stream: number) {
    const iv = Buffer.alloc(16)
    iv.writeUInt32BE(stream >>> 0, 0)
    this.cipher = createCipheriv('aes-256-ctr', key, iv)
  }

  /** The next `n` words. */
  words(n: number): Uint32Array {
    const bytes = this.cipher.update(Buffer.alloc(n * 4))
    // Typed arrays need 4-byte alignment; Buffers from a pool may not have it.
    if (bytes.byteOffset % 4 === 0) return new Uint32Array(bytes.buffer, bytes.byteOffset, n)
    return new Uint32Array(new Uint8Array(bytes).buffer, 0, n)
  }

  /** The next word (buffered). */
  next(): number {
    if (this.pos >= this.buf.length) {
      this.buf = this.words(1024)
      this.pos = 0
    }
    return this.buf[this.pos++]!
  }
}

/** A word as a uniform float in (-1, 1), exact in float32: `((u >>> 8) + 0.5) / 2^23 - 1`. */
export function uniform(u: number): number {
  return ((u >>> 8) + 0.5) / 8388608 - 1
}

/** Fill `out` with `scale * uniform(word)` for consecutive words of the stream. */
export function fillUniform(stream: Stream, out: Float32Array, scale: number): void {
  const chunk = 1 << 20
  for (let off = 0; off < out.length; off += chunk) {
    const n = Math.min(chunk, out.length - off)
    const w = stream.words(n)
    for (let i = 0; i < n; i++) out[off + i] = (((w[i]! >>> 8) + 0.5) / 8388608 - 1) * scale
  }
}
