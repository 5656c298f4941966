// Writes the int8 model SKU (issue 13, item 1): a float decoder rewritten so that every linear
// layer is an exact integer GEMM whose products a verifier can audit with Freivalds' check. A
// maintainer tool, not part of the install; plain Node, no Python:
//
//   node scripts/model/int8-export.mjs            # both: models/kjv-small and the Llama fixture
//   node scripts/model/int8-export.mjs SOURCE_DIR OUT_DIR
//
// A linear layer is a MatMul whose B is Transpose(W) with W an initializer [N, K] (as
// torch.onnx.export writes nn.Linear; both source models write every projection, and the tied or
// untied vocabulary head, this way; a bias stays a float Add after it). Each becomes:
//
//   weights  W8[K, N] int8, per output channel n: s_w[n] = max_k |W[n, k]| / 127,
//            W8[k, n] = round(W[n, k] / s_w[n]) (half to even), in [−127, 127]
//   input    per token row r of x [batch, seq, K]: s_x[r] = max(max_k |x[r, k]|, 1e-30) / 127,
//            x8[r, k] = Cast<int8>(Clip(Round(x[r, k] / s_x[r]), −127, 127)); only row-local
//            operations (ReduceMax over the last axis, elementwise), so a token's integer inputs
//            do not depend on the other rows of the batch, nor on prefill against decode
//   product  y32 = x8 · W8 accumulated in int32 (exact: |y| ≤ 127² · K < 2^31), computed as
//            MatMulInteger(x8 + 128, W8 + 128) in uint8 with both zero points 128, which is the
//            same integer product. Why not int8 × int8 directly: onnxruntime-node 1.30's CPU
//            provider has that type pair and computes it exactly, but 4 to 8 times slower here
//            (75 against 16 µs for 1×256·256×768; 394 against 17 for 1×256·256×2048). Why not
//            uint8 × int8, the fastest in prefill: on x86 without VNNI onnxruntime computes it with
//            VPMADDUBSW, whose int16 pair sums saturate (255·127·2 > 32767; onnxruntime's
//            quantization guide says so and recommends U8U8, which does not saturate), so an honest
//            host on such a CPU would commit a wrong product
//   output   float(y32) · s_x[r] · s_w[n], back into the float graph
//
// Everything else (embeddings, norms, attention, activations, residuals) stays float32. The
// audited products are extra graph outputs, per projection `audit/<layer>/<proj>/x` (int8
// [batch, seq, K]), `audit/<layer>/<proj>/y` (int32 [batch, seq, N]) and `audit/<layer>/<proj>/scale`
// (float32 [batch, seq, 1], s_x); <layer> is the block index, or `head` for the vocabulary
// projection. The weights are the initializers `<W>.u8` [K, N] (W8 + 128, so W8 = u8 − 128) and
// their scales `<W>.scale` [N]. The engine's decoder fetches only logits and present.*, so these cost nothing unless asked.
//
// Each folder gets the source's tokenizer and configs and a manifest.json listing every file with
// its SHA-256, `quantization: "int8"` and the scheme under `int8`. Deterministic: rerunning it
// rewrites the same bytes.
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DT, floats, tensor, attrInt, attrInts, valueInfo, onnx, projections } from './onnx-build.mjs'

const PAIRS =
  process.argv[2] !== undefined
    ? [[process.argv[2], process.argv[3] ?? `${process.argv[2]}-int8`]]
    : [
        ['models/kjv-small', 'models/kjv-small-int8'],
        ['test/fixtures/models/llama-tiny', 'test/fixtures/models/llama-tiny-int8'],
      ]
const COPIED = ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'config.json']
/** The floor of a row's max |x|, so that an all-zero row gets a finite scale (and integer zeros). */
const MIN_ABSMAX = 1e-30

// --- tensors -------------------------------------------------------------------------------------

const node = (name, opType, input, output, attribute = []) =>
  onnx.NodeProto.create({ name, opType, input, output, attribute })

// --- weights -------------------------------------------------------------------------------------

/** Round half to even, as ONNX Round does (Math.round rounds half up). */
function roundEven(v) {
  const r = Math.round(v)
  return Math.abs(v - Math.trunc(v)) === 0.5 && r % 2 !== 0 ? r - 1 : r
}

/**
 * Quantize W [N, K] (row n = output feature n) per output channel, symmetric: s[n] = max|W[n]|/127
 * (1 for an all-zero row), q = round(w / s) in [−127, 127]. Returns q transposed to [K, N] (the B of
 * MatMulInteger), the scales, and the largest absolute rounding error relative to the row's max.
 */
function quantize8(w, N, K) {
  const q = new Int8Array(K * N)
  const scales = new Float32Array(N)
  let worst = 0
  for (let n = 0; n < N; n++) {
    let max = 0
    for (let k = 0; k < K; k++) max = Math.max(max, Math.abs(w[n * K + k]))
    const s = Math.fround(max / 127 || 1)
    scales[n] = s
    for (let k = 0; k < K; k++) {
      const v = Math.max(-127, Math.min(127, roundEven(w[n * K + k] / s)))
      q[k * N + n] = v
      if (max > 0) worst = Math.max(worst, Math.abs(v * s - w[n * K + k]) / max)
    }
  }
  return { q, scales, worst }
}

// --- the rewrite ---------------------------------------------------------------------------------

/**
 * The audit name of a projection from its weight's name: `model.h.0.c_attn.weight` (GPT-2),
 * `model.layers.1.q_proj.weight` (Llama) → `0/c_attn`, `1/q_proj`; a weight outside the blocks
 * (the vocabulary head, tied `model.wte.weight` or `model.lm_head.weight`) → `head/lm_head`.
 */
function auditName(weight) {
  const m = /\.(?:h|layers)\.(\d+)\.(.+)\.weight$/.exec(weight)
  if (m !== null) return `${m[1]}/${m[2].replaceAll('.', '_')}`
  return 'head/lm_head'
}

/** Rewrite every linear layer of `model` as described at the top; returns what it did. */
function toInt8(model) {
  const g = model.graph
  const consumers = (name) => g.node.filter((n) => n.input.includes(name))
  const replaced = new Map()
  const dropNodes = new Set()
  const audits = []
  let worst = 0
  const batch = 'batch_size'
  const seq = 'sequence_length'
  const eps = 'int8/min_absmax'
  const lo = 'int8/clip_min'
  const hi = 'int8/clip_max'
  const q127 = 'int8/127'
  const offset = 'int8/offset'
  const zp = 'int8/zero_point'
  g.initializer.push(
    tensor(offset, DT.FLOAT, [], Float32Array.of(128)),
    tensor(zp, DT.UINT8, [], Uint8Array.of(128)),
    tensor(eps, DT.FLOAT, [], Float32Array.of(MIN_ABSMAX)),
    tensor(lo, DT.FLOAT, [], Float32Array.of(-127)),
    tensor(hi, DT.FLOAT, [], Float32Array.of(127)),
    tensor(q127, DT.FLOAT, [], Float32Array.of(127)),
  )
  for (const p of projections(g)) {
    const a = auditName(p.weight.name)
    const { q, scales, worst: w } = quantize8(floats(p.weight), p.N, p.K)
    worst = Math.max(worst, w)
    const wq = `${p.weight.name}.u8`
    const ws = `${p.weight.name}.scale`
    g.initializer.push(
      tensor(
        wq,
        DT.UINT8,
        [p.K, p.N],
        Uint8Array.from(q, (v) => v + 128),
      ),
      tensor(ws, DT.FLOAT, [p.N], scales),
    )
    const x = p.matmul.input[0]
    const pre = `/int8/${a}`
    const v = (s) => `${pre}/${s}`
    const ax = `audit/${a}/x`
    const ay = `audit/${a}/y`
    const as = `audit/${a}/scale`
    const nodes = [
      // SPEC (issue 13 item 1): row-local quantization of the input, s_x = max|x_row| / 127.
      node(v('Abs'), 'Abs', [x], [v('abs')]),
      node(
        v('ReduceMax'),
        'ReduceMax',
        [v('abs')],
        [v('absmax')],
        [attrInts('axes', [-1]), attrInt('keepdims', 1)],
      ),
      node(v('Max'), 'Max', [v('absmax'), eps], [v('absmax_safe')]),
      node(v('Scale'), 'Div', [v('absmax_safe'), q127], [as]),
      node(v('Div'), 'Div', [x, as], [v('scaled')]),
      node(v('Round'), 'Round', [v('scaled')], [v('rounded')]),
      node(v('Clip'), 'Clip', [v('rounded'), lo, hi], [v('clipped')]),
      node(v('Cast'), 'Cast', [v('clipped')], [ax], [attrInt('to', DT.INT8)]),
      // The exact integer product x8 · W8 in int32, as (x8 + 128 − 128) · (W8 + 128 − 128).
      node(v('Shift'), 'Add', [v('clipped'), offset], [v('shifted')]),
      node(v('CastU8'), 'Cast', [v('shifted')], [v('x_u8')], [attrInt('to', DT.UINT8)]),
      node(v('MatMulInteger'), 'MatMulInteger', [v('x_u8'), wq, zp, zp], [ay]),
      // Back to float: y · s_x[row] · s_w[channel].
      node(v('CastY'), 'Cast', [ay], [v('yf')], [attrInt('to', DT.FLOAT)]),
      node(v('MulRow'), 'Mul', [v('yf'), as], [v('yrow')]),
      node(v('MulChannel'), 'Mul', [v('yrow'), ws], p.matmul.output),
    ]
    replaced.set(p.matmul, nodes)
    if (consumers(p.transpose.output[0]).length === 1) dropNodes.add(p.transpose)
    audits.push({ name: a, K: p.K, N: p.N, weight: p.weight.name })
    g.output.push(
      valueInfo(ax, DT.INT8, [batch, seq, p.K]),
      valueInfo(ay, DT.INT32, [batch, seq, p.N]),
      valueInfo(as, DT.FLOAT, [batch, seq, 1]),
    )
  }
  g.node = g.node.filter((n) => !dropNodes.has(n)).flatMap((n) => replaced.get(n) ?? [n])
  // A float weight still read elsewhere stays (GPT-2's tied embedding feeds its Gather).
  const used = new Set(g.node.flatMap((n) => n.input))
  g.initializer = g.initializer.filter((t) => used.has(t.name))
  return { audits, worst }
}

// --- writing -------------------------------------------------------------------------------------

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex')

function writeInt8(source, out) {
  const model = onnx.ModelProto.decode(readFileSync(join(source, 'model.onnx')))
  const { audits, worst } = toInt8(model)
  model.producerName = 'cordex scripts/model/int8-export.mjs'
  model.producerVersion = '1'
  rmSync(out, { recursive: true, force: true })
  mkdirSync(out, { recursive: true })
  const files = {}
  const put = (file, bytes) => {
    writeFileSync(join(out, file), bytes)
    files[file] = sha256(bytes)
  }
  put('model.onnx', onnx.ModelProto.encode(model).finish())
  for (const f of COPIED) put(f, readFileSync(join(source, f)))
  const src = JSON.parse(readFileSync(join(source, 'manifest.json'), 'utf8'))
  const name = `${src.name}-int8`
  const manifest = {
    ...src,
    name,
    quantization: 'int8',
    int8: {
      scheme: 'w8a8-symmetric',
      weights: 'int8 per output channel, scale = max|W[n,:]|/127, round half to even',
      activations: 'int8 per token row, scale = max|x[row,:]|/127, round half to even, clip ±127',
      accumulate: 'int32, exact: MatMulInteger on x8+128 and W8+128 (uint8, zero points 128)',
      weights8: '<weight>.u8 [K, N] = W8 + 128; <weight>.scale [N]',
      audit: 'outputs audit/<layer>/<proj>/x int8, /y int32, /scale float32',
      products: audits.map((a) => `${a.name} ${a.K}x${a.N}`),
    },
    files,
  }
  writeFileSync(join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`)
  const sizes = Object.keys(files).map((f) => `${f} ${readFileSync(join(out, f)).length}`)
  console.log(
    `${out}: ${audits.length} integer products, worst weight rounding ${worst.toExponential(2)} of a ` +
      `channel's max; ${sizes.join(', ')}`,
  )
}

for (const [source, out] of PAIRS) writeInt8(source, out)
