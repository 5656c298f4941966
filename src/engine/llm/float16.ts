// IEEE 754 half precision, for exports whose logits are float16. Node 20 has no Float16Array:
// onnxruntime hands float16 tensors over as Uint16Array bit patterns.

let table: Float32Array | undefined

/** Every float16 bit pattern's value, built on first use (256 KiB). */
function halfTable(): Float32Array {
  if (table !== undefined) return table
  table = new Float32Array(65536)
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1
    const exp = (h >> 10) & 0x1f
    const mant = h & 0x3ff
    table[h] =
      exp === 0
        ? sign * mant * 2 ** -24
        : exp === 31
          ? mant === 0
            ? sign * Infinity
            : NaN
          : sign * (1 + mant / 1024) * 2 ** (exp - 15)
  }
  return table
}

/** Float32 values of the float16 bit patterns in `bits` (a copy; exact: every half is a float). */
export function halfToFloat(bits: Uint16Array): Float32Array {
  const t = halfTable()
  const out = new Float32Array(bits.length)
  for (let i = 0; i < bits.length; i++) out[i] = t[bits[i]!]!
  return out
}
