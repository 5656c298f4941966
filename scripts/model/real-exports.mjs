// Writes the "real export" fixtures: the random-weight llama-tiny decoder rewritten into the forms
// that common export tools produce, so that tests prove each one loads and generates (issue 11,
// item 5). A maintainer tool, not part of the install; plain Node, no Python:
//
//   node scripts/model/real-exports.mjs [SOURCE_DIR] [OUT_DIR]
//   (defaults test/fixtures/models/llama-tiny and test/fixtures/models)
//
// First every projection weight of the source (each MatMul whose B is Transpose(initializer), as
// torch.onnx.export writes nn.Linear) is snapped to the 4-bit grid that onnxruntime's
// MatMul4BitsQuantizer would choose for it (blocks of 32 along K, asymmetric, a float scale and a
// 4-bit zero point per block). Quantizing the snapped weights again then loses nothing, so every
// variant below computes the same function as the fp32 one, up to rounding:
//
//   llama-tiny-external  fp32; every tensor of 1 KiB or more in `model.onnx_data` (ONNX external
//                        data, as `onnx.save_model(..., save_as_external_data=True,
//                        all_tensors_to_one_file=True, size_threshold=1024)` writes it)
//   llama-tiny-fp16      everything float16, inputs and outputs included (past/present cache and
//                        logits), as onnxconverter-common's float16 converter with
//                        keep_io_types=False writes it: initializers, Constant nodes (clamped to
//                        the float16 range), Cast-to-float nodes and the graph's IO
//   llama-tiny-q4        fp32 IO; each projection a com.microsoft MatMulNBits (bits 4,
//                        block_size 32, uint8 zero points), the layout MatMul4BitsQuantizer writes
//   llama-tiny-merged    Optimum's decoder_model_merged layout: one If on a boolean
//                        `use_cache_branch` [1] input, whose then-branch is the decoder with past
//                        and whose else-branch ignores the past; the weights (the q4 variant's)
//                        are initializers of the outer graph, shared by both branches
//
// Each folder gets the source's tokenizer and configs and a manifest.json listing every file
// (model.onnx_data included) with its SHA-256. The output is deterministic: rerunning it rewrites
// the same bytes.
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ATTR, DT, num, floats, raw, tensor, attrInt, valueInfo, onnx, projections } from './onnx-build.mjs'

const SOURCE = process.argv[2] ?? 'test/fixtures/models/llama-tiny'
const OUT = process.argv[3] ?? 'test/fixtures/models'
const BLOCK = 32
const EXTERNAL_THRESHOLD = 1024
const COPIED = ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']

// --- float16 -------------------------------------------------------------------------------------

const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)
const FP16_MAX = 65504

/** The float16 bits nearest to `v` (round half to even); `v` beyond ±65504 is clamped first. */
export function toHalf(v) {
  f32[0] = Math.max(-FP16_MAX, Math.min(FP16_MAX, v))
  const x = u32[0]
  const sign = (x >>> 16) & 0x8000
  const exp = (x >>> 23) & 0xff
  let mant = x & 0x7fffff
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0)
  const e = exp - 127 + 15
  if (e <= 0) {
    if (e < -10) return sign
    mant |= 0x800000
    const shift = 14 - e
    let h = mant >>> shift
    const rem = mant & ((1 << shift) - 1)
    const half = 1 << (shift - 1)
    if (rem > half || (rem === half && (h & 1) === 1)) h++
    return sign | h
  }
  let h = (e << 10) | (mant >>> 13)
  const rem = mant & 0x1fff
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++
  return sign | h
}

// --- tensors -------------------------------------------------------------------------------------

const clone = (m) => onnx.ModelProto.decode(onnx.ModelProto.encode(m).finish())

// --- 4-bit blocks (onnxruntime's MatMul4BitsQuantizer, asymmetric) --------------------------------

/**
 * Quantize W [N, K] (row n = output feature n, as nn.Linear stores it) in blocks of BLOCK along K:
 * per block, scale = (max − min) / 15 over the block with 0 included, zero point =
 * round(−min / scale) in [0, 15], q = clamp(round(w / scale) + zp, 0, 15). Returns the MatMulNBits
 * tensors and the dequantized weights (q − zp) · scale, in float32.
 */
function quantize4(w, N, K) {
  const blocks = Math.ceil(K / BLOCK)
  const blob = BLOCK / 2
  const q = new Uint8Array(N * blocks * blob)
  const scales = new Float32Array(N * blocks)
  const zpStride = Math.ceil(blocks / 2)
  const zp = new Uint8Array(N * zpStride)
  const deq = new Float32Array(N * K)
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < blocks; b++) {
      let lo = 0
      let hi = 0
      for (let k = b * BLOCK; k < Math.min(K, (b + 1) * BLOCK); k++) {
        lo = Math.min(lo, w[n * K + k])
        hi = Math.max(hi, w[n * K + k])
      }
      const scale = Math.fround((hi - lo) / 15 || 1)
      const z = Math.min(15, Math.max(0, Math.round(-lo / scale)))
      scales[n * blocks + b] = scale
      zp[n * zpStride + (b >> 1)] |= z << ((b & 1) * 4)
      for (let j = 0; j < BLOCK; j++) {
        const k = b * BLOCK + j
        const v = k < K ? Math.min(15, Math.max(0, Math.round(w[n * K + k] / scale) + z)) : z
        q[(n * blocks + b) * blob + (j >> 1)] |= v << ((j & 1) * 4)
        if (k < K) deq[n * K + k] = Math.fround((v - z) * scale)
      }
    }
  }
  return { q, scales, zp, blocks, blob, deq }
}

/** Snap every projection weight to its 4-bit grid (in place). */
function snap(model) {
  for (const p of projections(model.graph)) {
    const { deq } = quantize4(floats(p.weight), p.N, p.K)
    p.weight.rawData = raw(deq)
    p.weight.floatData = []
  }
}

// --- the variants --------------------------------------------------------------------------------

/** Move every tensor of EXTERNAL_THRESHOLD bytes or more into `model.onnx_data`. */
function externalize(model) {
  const chunks = []
  let offset = 0
  for (const t of model.graph.initializer) {
    const bytes = t.rawData ?? new Uint8Array(0)
    if (bytes.length < EXTERNAL_THRESHOLD) continue
    const entry = (key, value) => onnx.StringStringEntryProto.create({ key, value })
    t.externalData = [
      entry('location', 'model.onnx_data'),
      entry('offset', String(offset)),
      entry('length', String(bytes.length)),
    ]
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL
    t.rawData = new Uint8Array(0)
    chunks.push(Buffer.from(bytes))
    offset += bytes.length
  }
  return Buffer.concat(chunks)
}

function halfTensor(t) {
  const v = floats(t)
  const h = new Uint16Array(v.length)
  for (let i = 0; i < v.length; i++) h[i] = toHalf(v[i])
  t.dataType = DT.FLOAT16
  t.rawData = raw(h)
  t.floatData = []
}

/** Everything float becomes float16: tensors, Constant and ConstantOfShape values, casts, IO. */
function toFloat16(model) {
  const g = model.graph
  for (const t of g.initializer) if (t.dataType === DT.FLOAT) halfTensor(t)
  for (const n of g.node) {
    for (const a of n.attribute) {
      if (a.t?.dataType === DT.FLOAT) halfTensor(a.t)
      if (n.opType === 'Cast' && a.name === 'to' && num(a.i) === DT.FLOAT) a.i = DT.FLOAT16
    }
  }
  for (const v of [...g.input, ...g.output, ...g.valueInfo])
    if (v.type.tensorType.elemType === DT.FLOAT) v.type.tensorType.elemType = DT.FLOAT16
}

/** Every projection becomes MatMulNBits; its Transpose and fp32 weight go. */
function toMatMulNBits(model) {
  const g = model.graph
  const drop = new Set()
  const dropInit = new Set()
  const replaced = new Map()
  for (const p of projections(g)) {
    const { q, scales, zp, blocks, blob } = quantize4(floats(p.weight), p.N, p.K)
    const base = p.weight.name
    g.initializer.push(
      tensor(`${base}_Q4`, DT.UINT8, [p.N, blocks, blob], q),
      tensor(`${base}_scales`, DT.FLOAT, [p.N * blocks], scales),
      tensor(`${base}_zp`, DT.UINT8, [p.N * Math.ceil(blocks / 2)], zp),
    )
    replaced.set(
      p.matmul,
      onnx.NodeProto.create({
        name: `${p.matmul.name}_Q4`,
        opType: 'MatMulNBits',
        domain: 'com.microsoft',
        input: [p.matmul.input[0], `${base}_Q4`, `${base}_scales`, `${base}_zp`],
        output: p.matmul.output,
        attribute: [attrInt('K', p.K), attrInt('N', p.N), attrInt('bits', 4), attrInt('block_size', BLOCK)],
      }),
    )
    drop.add(p.transpose)
    dropInit.add(base)
  }
  g.node = g.node.filter((n) => !drop.has(n)).map((n) => replaced.get(n) ?? n)
  g.initializer = g.initializer.filter((t) => !dropInit.has(t.name))
  model.opsetImport.push(onnx.OperatorSetIdProto.create({ domain: 'com.microsoft', version: 1 }))
}

/**
 * Optimum's merged decoder: the graph's nodes move into the two branches of one If on
 * `use_cache_branch`. The else-branch (first step, no past) reads a zero-length slice of each
 * past input instead of the input itself, so it ignores whatever past it is fed. Initializers stay
 * in the outer graph; each branch prefixes its own value names.
 */
function toMerged(model) {
  const g = model.graph
  const outer = new Set([...g.input.map((i) => i.name), ...g.initializer.map((t) => t.name)])
  const pasts = g.input.filter((i) => i.name.startsWith('past_key_values.')).map((i) => i.name)
  const branch = (prefix, withPast) => {
    const rename = (name) => (name === '' || outer.has(name) ? name : `${prefix}/${name}`)
    const nodes = []
    const empty = new Map()
    if (!withPast) {
      const zero = `${prefix}/zero`
      const two = `${prefix}/axis2`
      nodes.push(
        onnx.NodeProto.create({
          name: zero,
          opType: 'Constant',
          output: [zero],
          attribute: [
            onnx.AttributeProto.create({
              name: 'value',
              type: ATTR.TENSOR,
              t: tensor('', DT.INT64, [1], BigInt64Array.of(0n)),
            }),
          ],
        }),
        onnx.NodeProto.create({
          name: two,
          opType: 'Constant',
          output: [two],
          attribute: [
            onnx.AttributeProto.create({
              name: 'value',
              type: ATTR.TENSOR,
              t: tensor('', DT.INT64, [1], BigInt64Array.of(2n)),
            }),
          ],
        }),
      )
      for (const p of pasts) {
        const e = `${prefix}/${p}.empty`
        nodes.push(
          onnx.NodeProto.create({ name: e, opType: 'Slice', input: [p, zero, zero, two], output: [e] }),
        )
        empty.set(p, e)
      }
    }
    for (const n of g.node) {
      const c = onnx.NodeProto.decode(onnx.NodeProto.encode(n).finish())
      c.name = `${prefix}/${c.name}`
      c.input = c.input.map((i) => empty.get(i) ?? rename(i))
      c.output = c.output.map(rename)
      nodes.push(c)
    }
    return onnx.GraphProto.create({
      name: prefix,
      node: nodes,
      output: g.output.map((o) => {
        const c = onnx.ValueInfoProto.decode(onnx.ValueInfoProto.encode(o).finish())
        c.name = rename(o.name)
        return c
      }),
    })
  }
  const iff = onnx.NodeProto.create({
    name: 'optimum::if',
    opType: 'If',
    input: ['use_cache_branch'],
    output: g.output.map((o) => o.name),
    attribute: [
      onnx.AttributeProto.create({ name: 'then_branch', type: ATTR.GRAPH, g: branch('with_past', true) }),
      onnx.AttributeProto.create({ name: 'else_branch', type: ATTR.GRAPH, g: branch('no_past', false) }),
    ],
  })
  g.node = [iff]
  g.input.push(valueInfo('use_cache_branch', DT.BOOL, [1]))
}

// --- writing -------------------------------------------------------------------------------------

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex')

function writeVariant(name, model, quantization, extra = {}) {
  const dir = join(OUT, name)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const files = {}
  const put = (file, bytes) => {
    writeFileSync(join(dir, file), bytes)
    files[file] = sha256(bytes)
  }
  model.producerName = 'cordex scripts/model/real-exports.mjs'
  model.producerVersion = '1'
  const data = extra.external === true ? externalize(model) : null
  put('model.onnx', onnx.ModelProto.encode(model).finish())
  if (data !== null) put('model.onnx_data', data)
  for (const f of COPIED) put(f, readFileSync(join(SOURCE, f)))
  const config = JSON.parse(readFileSync(join(SOURCE, 'config.json'), 'utf8'))
  config.torch_dtype = quantization === 'fp16' ? 'float16' : 'float32'
  put('config.json', `${JSON.stringify(config, null, 2)}\n`)
  const source = JSON.parse(readFileSync(join(SOURCE, 'manifest.json'), 'utf8'))
  const manifest = { ...source, name, quantization, files }
  writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`)
  const sizes = Object.keys(files).map((f) => `${f} ${readFileSync(join(dir, f)).length}`)
  console.log(`${dir}: ${sizes.join(', ')}`)
}

const base = onnx.ModelProto.decode(readFileSync(join(SOURCE, 'model.onnx')))
snap(base)

writeVariant('llama-tiny-external', clone(base), 'fp32', { external: true })

const half = clone(base)
toFloat16(half)
writeVariant('llama-tiny-fp16', half, 'fp16')

const q4 = clone(base)
toMatMulNBits(q4)
writeVariant('llama-tiny-q4', q4, 'q4')

const merged = clone(q4)
toMerged(merged)
writeVariant('llama-tiny-merged', merged, 'q4')
