// Writes a random-weight GPT-2-architecture decoder of about 100M parameters in the standard export
// layout (the inputs and outputs of models/kjv-small: input_ids, attention_mask, position_ids,
// past_key_values.N.key/value → logits, present.N.key/value), with its weights in ONNX external
// data (model.onnx_data, about 400 MB) and a manifest pinning every file. What `npm run
// bench:infer` measures CPU and GPU inference on: the bundled models are too small to say anything
// about a GPU (each step is launch-bound). Not committed; a maintainer and benchmark tool.
//
//   node scripts/model/random-decoder.mjs [--out DIR] [--layers 14] [--width 768] [--heads 12]
//                                         [--context 1024] [--seed 1]
//   (default DIR build/models/gpt2-random-100m; 14 × 768 gives 103.2M parameters)
//
// Shapes are GPT-2 small's (width 768, 12 heads, MLP 4×, LayerNorm, tanh-free erf GELU, learned
// positions), with two more layers and the bundled 2,048-token tokenizer (models/kjv-small), so
// the body is about GPT-2 small's cost per token and the vocabulary projection much less. Weights
// are seeded normals (std 0.02, residual projections 0.02/√(2·layers), the LM head 0.1 so that
// logits spread over a few units); no end-of-sequence id, so generation runs to its limit. The
// output is deterministic: the same flags write the same bytes.
import { createHash } from 'node:crypto'
import {
  closeSync,
  copyFileSync,
  createReadStream,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ATTR, DT, onnx, valueInfo } from './onnx-build.mjs'

const { values: args } = parseArgs({
  options: {
    out: { type: 'string', default: 'build/models/gpt2-random-100m' },
    layers: { type: 'string', default: '14' },
    width: { type: 'string', default: '768' },
    heads: { type: 'string', default: '12' },
    context: { type: 'string', default: '1024' },
    seed: { type: 'string', default: '1' },
  },
})
const L = Number(args.layers)
const C = Number(args.width)
const H = Number(args.heads)
const CTX = Number(args.context)
const D = C / H
const TOKENIZER_DIR = 'models/kjv-small'
const V = JSON.parse(readFileSync(join(TOKENIZER_DIR, 'config.json'), 'utf8')).vocab_size
if (!Number.isInteger(D)) throw new Error('--width must be a multiple of --heads')
const OUT = args.out
const NAME = OUT.split('/').filter(Boolean).pop()

// --- seeded normals (xorshift128+ and Box–Muller) ---------------------------------------------

let s0 = (BigInt(args.seed) * 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn || 1n
let s1 = 0x6a09e667f3bcc909n
function nextU64() {
  let x = s0
  const y = s1
  s0 = y
  x ^= (x << 23n) & 0xffffffffffffffffn
  s1 = x ^ y ^ (x >> 17n) ^ (y >> 26n)
  return (s1 + y) & 0xffffffffffffffffn
}
// BigInt per draw is slow for 100M values: a fast 32-bit generator seeded from it.
let a = Number(nextU64() & 0xffffffffn) | 1
function uniform() {
  // mulberry32
  a = (a + 0x6d2b79f5) | 0
  let t = Math.imul(a ^ (a >>> 15), 1 | a)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
function normals(n, std) {
  const out = new Float32Array(n)
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - uniform())) * std
    const th = 2 * Math.PI * uniform()
    out[i] = r * Math.cos(th)
    if (i + 1 < n) out[i + 1] = r * Math.sin(th)
  }
  return out
}

// --- the graph -------------------------------------------------------------------------------

mkdirSync(OUT, { recursive: true })
rmSync(join(OUT, 'model.onnx_data'), { force: true })
const dataFd = openSync(join(OUT, 'model.onnx_data'), 'w')
let offset = 0
let params = 0
const inits = []
const nodes = []
let counter = 0
const fresh = (hint) => `${hint}_${counter++}`

/** A weight in model.onnx_data. */
function weight(name, dims, values) {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength)
  writeSync(dataFd, bytes)
  const entry = (key, value) => onnx.StringStringEntryProto.create({ key, value })
  inits.push(
    onnx.TensorProto.create({
      name,
      dataType: DT.FLOAT,
      dims,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        entry('location', 'model.onnx_data'),
        entry('offset', String(offset)),
        entry('length', String(bytes.length)),
      ],
    }),
  )
  offset += bytes.length
  params += values.length
  return name
}
const filled = (n, v) => new Float32Array(n).fill(v)

/** A small constant inside model.onnx. */
function constant(hint, dataType, dims, values) {
  const name = fresh(hint)
  const typed = dataType === DT.INT64 ? BigInt64Array.from(values, BigInt) : Float32Array.from(values)
  inits.push(onnx.TensorProto.create({ name, dataType, dims, rawData: new Uint8Array(typed.buffer) }))
  return name
}

function node(op, inputs, attrs = {}, output = fresh(op)) {
  const attribute = Object.entries(attrs).map(([name, v]) =>
    Array.isArray(v)
      ? onnx.AttributeProto.create({ name, type: ATTR.INTS, ints: v })
      : Number.isInteger(v)
        ? onnx.AttributeProto.create({ name, type: ATTR.INT, i: v })
        : onnx.AttributeProto.create({ name, type: ATTR.FLOAT, f: v }),
  )
  nodes.push(onnx.NodeProto.create({ name: output, opType: op, input: inputs, output: [output], attribute }))
  return output
}

const i64 = (hint, values) => constant(hint, DT.INT64, [values.length], values)
const f32 = (hint, v) => constant(hint, DT.FLOAT, [], [v])

const layerNorm = (x, l) =>
  node('LayerNormalization', [x, weight(`${l}.g`, [C], filled(C, 1)), weight(`${l}.b`, [C], filled(C, 0))], {
    axis: -1,
    epsilon: 1e-5,
  })
const linear = (x, name, k, n, std) =>
  node('Add', [
    node('MatMul', [x, weight(`${name}.w`, [k, n], normals(k * n, std))]),
    weight(`${name}.b`, [n], filled(n, 0)),
  ])

// Embeddings.
let x = node('Add', [
  node('Gather', [weight('wte', [V, C], normals(V * C, 0.02)), 'input_ids'], { axis: 0 }),
  node('Gather', [weight('wpe', [CTX, C], normals(CTX * C, 0.01)), 'position_ids'], { axis: 0 }),
])

// The additive attention mask [B, 1, T, S], once: causal over absolute positions (the past's
// length P plus the query's index) and the attention mask's zeros.
const zero = i64('zero', [0])
const one = i64('one', [1])
const P = node('Shape', ['past_key_values.0.key'], { start: 2, end: 3 })
const T = node('Shape', ['input_ids'], { start: 1, end: 2 })
const S = node('Add', [P, T])
const scalar = (v) => node('Squeeze', [v, zero])
const kpos = node('Range', [scalar(zero), scalar(S), scalar(one)])
const qpos = node('Range', [scalar(P), scalar(S), scalar(one)])
const causal = node('LessOrEqual', [node('Unsqueeze', [kpos, zero]), node('Unsqueeze', [qpos, one])])
const padded = node('Unsqueeze', [node('Cast', ['attention_mask'], { to: DT.BOOL }), i64('axes12', [1, 2])])
const mask = node('Where', [node('And', [causal, padded]), f32('open', 0), f32('closed', -1e9)])

const split = i64('split', [C, C, C])
const toHeads = i64('heads', [0, 0, H, D])
const merge = i64('merge', [0, 0, C])
const scale = f32('scale', 1 / Math.sqrt(D))
const half = f32('half', 0.5)
const unit = f32('unit', 1)
const sqrt2 = f32('sqrt2', Math.SQRT2)
const residual = 0.02 / Math.sqrt(2 * L)

for (let l = 0; l < L; l++) {
  const h = layerNorm(x, `h.${l}.ln_1`)
  const qkv = linear(h, `h.${l}.attn.c_attn`, C, 3 * C, 0.02)
  const [q, k, v] = ['q', 'k', 'v'].map((n) => `${qkv}_${n}`)
  nodes.push(
    onnx.NodeProto.create({
      name: `${qkv}_split`,
      opType: 'Split',
      input: [qkv, split],
      output: [q, k, v],
      attribute: [onnx.AttributeProto.create({ name: 'axis', type: ATTR.INT, i: -1 })],
    }),
  )
  const heads = (t) => node('Transpose', [node('Reshape', [t, toHeads])], { perm: [0, 2, 1, 3] })
  const keys = node('Concat', [`past_key_values.${l}.key`, heads(k)], { axis: 2 }, `present.${l}.key`)
  const values = node('Concat', [`past_key_values.${l}.value`, heads(v)], { axis: 2 }, `present.${l}.value`)
  const scores = node('Add', [
    node('Mul', [node('MatMul', [heads(q), node('Transpose', [keys], { perm: [0, 1, 3, 2] })]), scale]),
    mask,
  ])
  const ctx = node('MatMul', [node('Softmax', [scores], { axis: -1 }), values])
  const merged = node('Reshape', [node('Transpose', [ctx], { perm: [0, 2, 1, 3] }), merge])
  x = node('Add', [x, linear(merged, `h.${l}.attn.c_proj`, C, C, residual)])
  const m = linear(layerNorm(x, `h.${l}.ln_2`), `h.${l}.mlp.c_fc`, C, 4 * C, 0.02)
  const gelu = node('Mul', [
    node('Mul', [m, half]),
    node('Add', [node('Erf', [node('Div', [m, sqrt2])]), unit]),
  ])
  x = node('Add', [x, linear(gelu, `h.${l}.mlp.c_proj`, 4 * C, C, residual)])
}
node('MatMul', [layerNorm(x, 'ln_f'), weight('lm_head', [C, V], normals(C * V, 0.1))], {}, 'logits')
closeSync(dataFd)

const cache = (prefix, len) =>
  Array.from({ length: L }, (_, l) =>
    ['key', 'value'].map((kv) => valueInfo(`${prefix}.${l}.${kv}`, DT.FLOAT, ['batch_size', H, len, D])),
  ).flat()

const model = onnx.ModelProto.create({
  irVersion: 8,
  producerName: 'cordex scripts/model/random-decoder.mjs',
  opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 17 })],
  graph: onnx.GraphProto.create({
    name: NAME,
    node: nodes,
    initializer: inits,
    input: [
      valueInfo('input_ids', DT.INT64, ['batch_size', 'sequence_length']),
      valueInfo('attention_mask', DT.INT64, ['batch_size', 'total_sequence_length']),
      valueInfo('position_ids', DT.INT64, ['batch_size', 'sequence_length']),
      ...cache('past_key_values', 'past_sequence_length'),
    ],
    output: [
      valueInfo('logits', DT.FLOAT, ['batch_size', 'sequence_length', V]),
      ...cache('present', 'total_sequence_length'),
    ],
  }),
})
writeFileSync(join(OUT, 'model.onnx'), onnx.ModelProto.encode(model).finish())

// --- the folder --------------------------------------------------------------------------------

for (const f of ['tokenizer.json', 'tokenizer_config.json'])
  copyFileSync(join(TOKENIZER_DIR, f), join(OUT, f))
const json = (v) => `${JSON.stringify(v, null, 2)}\n`
writeFileSync(
  join(OUT, 'config.json'),
  json({
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    vocab_size: V,
    n_positions: CTX,
    n_ctx: CTX,
    n_embd: C,
    n_layer: L,
    n_head: H,
    n_inner: 4 * C,
    activation_function: 'gelu',
    layer_norm_epsilon: 1e-5,
    tie_word_embeddings: false,
    torch_dtype: 'float32',
    use_cache: true,
  }),
)
writeFileSync(join(OUT, 'generation_config.json'), json({}))
const files = {}
for (const f of [
  'model.onnx',
  'model.onnx_data',
  'tokenizer.json',
  'tokenizer_config.json',
  'config.json',
  'generation_config.json',
]) {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(join(OUT, f))) hash.update(chunk)
  files[f] = hash.digest('hex')
}
writeFileSync(
  join(OUT, 'manifest.json'),
  json({
    name: NAME,
    architecture: 'gpt2',
    contextLength: CTX,
    quantization: 'fp32',
    unitsPerToken: Math.max(1, Math.round((2 * params) / 1000)),
    chatTemplate: 'tokenizer_config.json',
    files,
  }),
)
console.log(
  `${OUT}: ${(params / 1e6).toFixed(1)}M parameters (${L} layers × ${C}, ${H} heads, vocab ${V}, context ${CTX}); model.onnx_data ${(offset / 2 ** 20).toFixed(0)} MiB`,
)
