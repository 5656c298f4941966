// A walk over the protobuf wire format, without a schema: each field's number and place in the
// bytes, and a length-delimited field's body as a view (no copy). What reads only a few fields of
// a message (the external data of an ONNX model, the time of a libp2p peer record) needs no
// generated decoder.

/** The bytes are not well-formed protobuf (the message says where). */
export class WireError extends Error {}

/** One field as it lies in a message: `start` at its tag, `end` past its value. */
export interface WireField {
  field: number
  start: number
  end: number
  /** A length-delimited field's body (wire type 2); undefined for the others. */
  body?: Uint8Array
}

function varint(buf: Uint8Array, at: { pos: number }): number {
  let v = 0
  let scale = 1
  for (let i = 0; i < 10; i++) {
    if (at.pos >= buf.length) throw new WireError('truncated varint')
    const b = buf[at.pos++]!
    v += (b & 0x7f) * scale
    if ((b & 0x80) === 0) return v
    scale *= 128
  }
  throw new WireError('varint too long')
}

/** The top-level fields of the message in `buf`, in order. Throws WireError when malformed. */
export function* wireFields(buf: Uint8Array): Generator<WireField> {
  const at = { pos: 0 }
  while (at.pos < buf.length) {
    const start = at.pos
    const tag = varint(buf, at)
    const wire = tag % 8
    let body: Uint8Array | undefined
    switch (wire) {
      case 0:
        varint(buf, at)
        break
      case 1:
        at.pos += 8
        break
      case 5:
        at.pos += 4
        break
      case 2: {
        const len = varint(buf, at)
        if (at.pos + len > buf.length) throw new WireError('field runs past the end')
        body = buf.subarray(at.pos, at.pos + len)
        at.pos += len
        break
      }
      default:
        throw new WireError(`wire type ${wire}`)
    }
    if (at.pos > buf.length) throw new WireError('field runs past the end')
    yield { field: Math.floor(tag / 8), start, end: at.pos, body }
  }
}
