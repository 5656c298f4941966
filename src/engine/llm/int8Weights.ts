import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import onnxProto from 'onnx-proto'
import { EngineError } from './errors.js'
import {
  GraphView,
  glueInvalid as invalid,
  isAttention,
  matchActivation,
  matchNorm,
  residual,
  type Int8Block,
  type Int8Glue,
  type Int8Norm,
  type ProductWiring,
} from './int8Glue.js'
import { manifestSchema, type Manifest } from './manifest.js'
import { auditProducts, type AuditProduct } from './auditProducts.js'

// What a verifier needs of an int8 export (scripts/model/int8-export.mjs) to audit a task: the
// products in the manifest's order, their int8 weights and scales (Freivalds' check), and the float
// glue between them (the chain check, src/verify/freivalds/chain.ts). model.onnx is read once.

const { onnx } = onnxProto

export interface Int8Weights {
  /** In the manifest's order (`int8.products`), which is the order of the commitment. */
  products: AuditProduct[]
  /** Projection names in order of first appearance (GPT-2: c_attn, attn_proj, c_fc, mlp_proj, lm_head). */
  projections: string[]
  /** Blocks. */
  layers: number
  glue: Int8Glue
  /** W8 of a product as K×N int8, row-major (`W[k·N + n]`), W8 = u8 − 128. Throws BAD_PARAMS for no such product. */
  weight(layer: number, projection: number): Int8Array
  /** s_w of a product: N float32 scales, one per output channel. Throws BAD_PARAMS for no such product. */
  weightScale(layer: number, projection: number): Float32Array
}

/** A product's weights and wiring, found from its `audit/<name>/{x,y,scale}` outputs. */
interface Traced extends ProductWiring {
  w8: Int8Array
  scale: Float32Array
  bias: Float32Array | null
  floor: number
  levels: number
}

function uint8s(t: onnxProto.onnx.ITensorProto): Uint8Array {
  if (t.rawData !== undefined && t.rawData !== null && t.rawData.length > 0) return Uint8Array.from(t.rawData)
  return Uint8Array.from(t.int32Data ?? [])
}

/**
 * Follows `audit/<a>/x` back to the float tensor it quantizes (Cast ← Clip ← Round ← Div(x, s_x),
 * s_x = Div(Max(ReduceMax(Abs x), floor), levels)) and `audit/<a>/y` forward to the float output
 * (Cast → Mul s_x → Mul s_w → Add bias?), reading W8 and s_w on the way.
 */
function trace(g: GraphView, a: string, layer: number, K: number, N: number): Traced {
  const bad = (why: string): EngineError => invalid(`audit/${a}: ${why}`)
  const clip = g.producer(g.producer(`audit/${a}/x`, 'Cast')?.input?.[0] ?? '', 'Clip')
  const div = g.producer(g.producer(clip?.input?.[0] ?? '', 'Round')?.input?.[0] ?? '', 'Div')
  const [input, s] = div?.input ?? []
  if (input === undefined || s !== `audit/${a}/scale`) throw bad('x is not Cast(Clip(Round(input / scale)))')
  const [safe, levelsName] = g.producer(s, 'Div')?.input ?? []
  const [absmax, floorName] = g.producer(safe ?? '', 'Max')?.input ?? []
  const levels = g.scalar(levelsName ?? '')
  const floor = g.scalar(floorName ?? '')
  const reduce = g.producer(absmax ?? '', 'ReduceMax')
  const abs = g.producer(reduce?.input?.[0] ?? '', 'Abs')
  if (levels === undefined || floor === undefined || abs?.input?.[0] !== input)
    throw bad('scale is not max(max|input|, floor) / levels')
  const mmi = g.producer(`audit/${a}/y`, 'MatMulInteger')
  const [xName, wName, xzName, zName] = mmi?.input ?? []
  const w = g.init(wName ?? '')
  const zero = uint8s(g.init(zName ?? '') ?? {})
  if (w?.dataType !== onnx.TensorProto.DataType.UINT8 || zero.length !== 1)
    throw bad('y is not MatMulInteger(x, uint8 W, _, zero point)')
  // The product multiplies the committed x: Cast<uint8>(clipped + offset) with the offset as zero point.
  const shift = g.producer(g.producer(xName ?? '', 'Cast')?.input?.[0] ?? '', 'Add')?.input ?? []
  const offset = g.scalar(shift.find((i) => i !== clip?.input?.[0] && i !== clip?.output?.[0]) ?? '')
  const xzero = uint8s(g.init(xzName ?? '') ?? {})
  if (!shift.includes(clip!.output![0]!) || offset === undefined || xzero[0] !== offset)
    throw bad("the product's input is not the committed x shifted by its zero point")
  if ((w.dims ?? []).map(Number).join('x') !== `${K}x${N}`)
    throw bad(`weight is not ${K}x${N} as the manifest says`)
  const u8 = uint8s(w)
  const w8 = Int8Array.from(u8, (v) => v - zero[0]!)
  const castY = g.consumers(`audit/${a}/y`).find((n) => n.opType === 'Cast')
  const row = g.consumers(castY?.output?.[0] ?? '').find((n) => n.opType === 'Mul' && n.input?.includes(s))
  const channel = g.consumers(row?.output?.[0] ?? '')
  const mul = channel.length === 1 && channel[0]!.opType === 'Mul' ? channel[0]! : undefined
  const scaleName = mul?.input?.find((i) => i !== row?.output?.[0]) ?? ''
  const scale = g.init(scaleName) === undefined ? undefined : g.floats(scaleName)
  const out = mul?.output?.[0]
  if (out === undefined || scale?.length !== N) throw bad('y is not dequantized as y · s_x · s_w')
  // A bias is an Add of an N-vector initializer right after the product (torch's nn.Linear).
  const users = g.consumers(out)
  const add = users.length === 1 && users[0]!.opType === 'Add' ? users[0]! : undefined
  const biasName = add?.input?.find((i) => i !== out) ?? ''
  const bias = g.init(biasName) === undefined ? undefined : g.floats(biasName)
  const biased = bias?.length === N
  return {
    name: `audit/${a}`,
    layer,
    input,
    output: biased ? add!.output![0]! : out,
    w8,
    scale,
    bias: biased ? bias! : null,
    floor,
    levels,
  }
}

/** The embedding feeding the first block's norm: Gather(tokens, input_ids) [+ Gather(positions, position_ids)]. */
function embedding(g: GraphView, h: string): { token: Float32Array; position: Float32Array | null } {
  const gather = (name: string, ids: string): Float32Array | undefined => {
    const [table, index] = g.producer(name, 'Gather')?.input ?? []
    return index === ids && g.init(table ?? '') !== undefined ? g.floats(table!) : undefined
  }
  const token = gather(h, 'input_ids')
  if (token !== undefined) return { token, position: null }
  const [a = '', b = ''] = g.producer(h, 'Add')?.input ?? []
  const t = gather(a, 'input_ids') ?? gather(b, 'input_ids')
  const p = gather(b, 'position_ids') ?? gather(a, 'position_ids')
  if (t === undefined || p === undefined) throw invalid('the first norm does not read the embeddings')
  return { token: t, position: p }
}

/** The glue between the traced products (in manifest order), by following the graph. */
function readGlue(g: GraphView, products: Traced[], layers: number, hidden: number): Int8Glue {
  const outputs = new Map(products.map((p, i) => [p.output, i]))
  const head = products.findIndex((p) => p.layer === -1)
  const norm = (i: number): { norm: Int8Norm; from: string } => {
    const n = matchNorm(g, products[i]!.input, hidden)
    if (n === undefined) throw invalid(`the input of ${products[i]!.name} is not a norm of the hidden state`)
    return n
  }
  const blocks: Int8Block[] = []
  let h: string | undefined
  let emb: ReturnType<typeof embedding> | undefined
  for (let l = 0; l < layers; l++) {
    // Group the block's products by the tensor they read, in order: norm1, attention, norm2, activation.
    const groups: number[][] = []
    products.forEach((p, i) => {
      if (p.layer !== l) return
      const same = groups.find((gr) => products[gr[0]!]!.input === p.input)
      if (same !== undefined) same.push(i)
      else groups.push([i])
    })
    const [attnIn, attn, mlpIn, down] = groups
    if (groups.length !== 4 || attn!.length !== 1 || down!.length !== 1)
      throw invalid(`block ${l}: ${groups.length} distinct inputs, not norm, attention, norm, activation`)
    const n1 = norm(attnIn![0]!)
    if (h === undefined) {
      emb = embedding(g, n1.from)
      h = n1.from
    } else if (n1.from !== h) throw invalid(`block ${l} does not read block ${l - 1}'s output`)
    if (!isAttention(g, products[attn![0]!]!.input))
      throw invalid(`${products[attn![0]!]!.name} does not read attention`)
    const mid = residual(g, h, products[attn![0]!]!.output)
    const n2 = norm(mlpIn![0]!)
    if (mid === undefined || n2.from !== mid) throw invalid(`block ${l}: no residual add around attention`)
    const activation = matchActivation(g, products[down![0]!]!.input, outputs)
    const used = activation?.kind === 'silu_mul' ? [activation.gate, activation.up] : [activation?.input]
    if (activation === undefined || !used.every((i) => i !== undefined && mlpIn!.includes(i)))
      throw invalid(`block ${l}: the input of ${products[down![0]!]!.name} is no known activation of the MLP`)
    h = residual(g, mid, products[down![0]!]!.output)
    if (h === undefined) throw invalid(`block ${l}: no residual add around the MLP`)
    blocks.push({
      attnNorm: n1.norm,
      attnIn: attnIn!,
      attnOut: attn![0]!,
      mlpNorm: n2.norm,
      mlpIn: mlpIn!,
      activation,
      mlpOut: down![0]!,
    })
  }
  if (head < 0 || emb === undefined) throw invalid('no vocabulary head, or no blocks')
  const final = norm(head)
  if (final.from !== h) throw invalid('the head does not read the last block through a norm')
  const vocab = emb.token.length / hidden
  if (!Number.isInteger(vocab) || products[head]!.scale.length !== vocab)
    throw invalid(
      `the embedding (${emb.token.length} floats) and the head (${hidden}x${products[head]!.scale.length}) disagree`,
    )
  const q = products[0]!
  if (products.some((p) => p.floor !== q.floor || p.levels !== q.levels))
    throw invalid('products quantize differently')
  return {
    hidden,
    vocab,
    tokenEmbedding: emb.token,
    positions: emb.position === null ? 0 : emb.position.length / hidden,
    positionEmbedding: emb.position,
    blocks,
    finalNorm: final.norm,
    head,
    biases: products.map((p) => p.bias),
    quantization: { floor: q.floor, levels: q.levels },
  }
}

/**
 * Reads an int8 export's audited products, weights and float glue from `dir` (manifest.json and
 * model.onnx, whose SHA-256 must be the manifest's). Throws EngineError MODEL_INVALID for a model
 * without int8 audit outputs or of a graph shape not recognized, MODEL_HASH_MISMATCH for a
 * model.onnx that is not the pinned one.
 */
export async function loadInt8Weights(dir: string): Promise<Int8Weights> {
  const where = path.join(dir, 'model.onnx')
  let manifest: Manifest
  let bytes: Buffer
  try {
    manifest = manifestSchema.parse(JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')))
    bytes = await readFile(where)
  } catch (err) {
    throw new EngineError('MODEL_INVALID', `${dir}: ${(err as Error).message}`)
  }
  // The blocks are the numbered entries' layers; the head is one past the last (auditProducts).
  const list = (manifest.int8 as { products?: unknown } | undefined)?.products
  const numbered = Array.isArray(list)
    ? list.map((e) => /^(\d+)\//.exec(String(e))?.[1]).filter((l) => l !== undefined)
    : []
  const layers = Math.max(-1, ...numbered.map(Number)) + 1
  const products = manifest.quantization === 'int8' ? auditProducts(manifest, layers) : null
  if (products === null)
    throw new EngineError('MODEL_INVALID', `${dir}: not an int8 export (no int8.products in its manifest)`)
  const hash = createHash('sha256').update(bytes).digest('hex')
  if (hash !== manifest.files['model.onnx'])
    throw new EngineError('MODEL_HASH_MISMATCH', `${where}: SHA-256 ${hash} differs from the manifest's`, {
      file: 'model.onnx',
    })
  const g = new GraphView(onnx.ModelProto.decode(bytes).graph ?? {})
  const projections = [...new Set(products.map((p) => p.name.split('/')[2]!))]
  const hidden = products.find((p) => p.layer === layers)?.inner ?? 0
  let traced: Traced[]
  let glue: Int8Glue
  try {
    // `trace` and the glue number the head −1.
    traced = products.map((p) =>
      trace(g, p.name.slice('audit/'.length), p.layer === layers ? -1 : p.layer, p.inner, p.cols),
    )
    glue = readGlue(g, traced, layers, hidden)
  } catch (err) {
    throw new EngineError('MODEL_INVALID', `${where}: ${(err as Error).message}`)
  }
  const index = new Map(products.map((p, i) => [`${p.layer}/${p.projection}`, traced[i]!]))
  const find = (layer: number, projection: number): Traced => {
    const t = index.get(`${layer}/${projection}`)
    if (t === undefined) throw new EngineError('BAD_PARAMS', `no int8 product (${layer}, ${projection})`)
    return t
  }
  return {
    products,
    projections,
    layers,
    glue,
    weight: (layer, projection) => find(layer, projection).w8,
    weightScale: (layer, projection) => find(layer, projection).scale,
  }
}
