import {
  distanceFromLogits,
  generateWeights,
  inputSeed,
  targetVector,
  tokensAndPermutation,
  type RaceBackend,
  type RaceProfile,
} from '../../race/index.js'
import { WebGpuError, requestWebGpuAdapter, type WebGpuOptions } from './webgpu.js'

export interface WebGpuRaceOptions extends WebGpuOptions {
  /** Nonces per dispatch (default 256). Shorter calls are padded to it. */
  batch?: number
  /**
   * Matrix product kernel: `tiled` (default; 32×32 tiles in workgroup memory, 4×4 outputs per
   * invocation) or `naive` (one invocation per output, for checking the other).
   */
  matmul?: 'tiled' | 'naive'
}

// GPUBufferUsage and GPUMapMode flags: fixed by the WebGPU specification (the `webgpu` package puts
// them on its `globals`, not on globalThis).
const STORAGE = 0x80
const COPY_DST = 0x08
const COPY_SRC = 0x04
const MAP_READ = 0x01
const MAP_MODE_READ = 0x01

/** Invocations per workgroup of every kernel; fits the compatibility feature level's limit (128). */
const WG = 64
const MAX_WORKGROUPS = 65535

type Epilogue = 'store' | 'add' | 'relu'

/**
 * `c = a·w` (`store`), `c += a·w` (`add`) or `c = relu(a·w)` (`relu`) for row-major a (M × K),
 * w (K × N), c (M × N). Sizes are baked in: one pipeline per product in the network.
 */
function matmulShader(kind: 'tiled' | 'naive', M: number, K: number, N: number, epilogue: Epilogue): string {
  const write = {
    store: 'c[i] = v;',
    add: 'c[i] = c[i] + v;',
    relu: 'c[i] = max(v, 0.0);',
  }[epilogue]
  const head = `
const M = ${M}u;
const K = ${K}u;
const N = ${N}u;
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
fn put(row: u32, col: u32, v: f32) {
  let i = row * N + col;
  ${write}
}
`
  if (kind === 'naive') {
    // Workgroups: (⌈N / 64⌉, M).
    return `${head}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) g: vec3u) {
  let col = g.x;
  let row = g.y;
  if (col >= N || row >= M) {
    return;
  }
  var acc = 0.0;
  for (var k = 0u; k < K; k++) {
    acc += a[row * K + k] * w[k * N + col];
  }
  put(row, col, acc);
}
`
  }
  // Workgroups: (⌈N / 32⌉, ⌈M / 32⌉). Each one computes a 32×32 block of c, stepping through K 32 at
  // a time with both operands' tiles in workgroup memory; invocation (x, y) of the 8×8 workgroup
  // owns rows y + 8i and columns x + 8j of the block, i, j < 4. Out-of-range elements load as zero.
  return `${head}
const T = 32u;
var<workgroup> ta: array<f32, 1024>; // ta[r * T + k] = a[row0 + r][k0 + k]
var<workgroup> tw: array<f32, 1024>; // tw[k * T + j] = w[k0 + k][col0 + j]

@compute @workgroup_size(8, 8)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(local_invocation_index) li: u32,
) {
  let row0 = wid.y * T;
  let col0 = wid.x * T;
  var acc: array<array<f32, 4>, 4>;
  for (var k0 = 0u; k0 < K; k0 += T) {
    for (var e = li; e < T * T; e += 64u) {
      let r = e / T;
      let q = e % T;
      var av = 0.0;
      if (row0 + r < M && k0 + q < K) {
        av = a[(row0 + r) * K + k0 + q];
      }
      ta[e] = av;
      var wv = 0.0;
      if (k0 + r < K && col0 + q < N) {
        wv = w[(k0 + r) * N + col0 + q];
      }
      tw[e] = wv;
    }
    workgroupBarrier();
    for (var k = 0u; k < T; k++) {
      for (var i = 0u; i < 4u; i++) {
        let x = ta[(lid.y + 8u * i) * T + k];
        for (var j = 0u; j < 4u; j++) {
          acc[i][j] += x * tw[k * T + lid.x + 8u * j];
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    for (var j = 0u; j < 4u; j++) {
      let row = row0 + lid.y + 8u * i;
      let col = col0 + lid.x + 8u * j;
      if (row < M && col < N) {
        put(row, col, acc[i][j]);
      }
    }
  }
}
`
}

/** x (R × d) = rows `tokens[r]` of the embedding (V × d). Workgroups: R. */
function embedShader(d: number): string {
  return `
const D = ${d}u;
@group(0) @binding(0) var<storage, read> tokens: array<u32>;
@group(0) @binding(1) var<storage, read> emb: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let r = wid.x;
  let t = tokens[r];
  for (var j = li; j < D; j += ${WG}u) {
    x[r * D + j] = emb[t * D + j];
  }
}
`
}

/**
 * y row r = rms(x row first + r·stride), rms(v) = v / sqrt(mean(v²) + 1e-5), rows of length d.
 * Workgroups: the number of output rows; the sum of squares is reduced across the workgroup.
 */
function rmsShader(d: number, first: number, stride: number): string {
  return `
const D = ${d}u;
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
var<workgroup> part: array<f32, ${WG}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let r = wid.x;
  let src = (${first}u + r * ${stride}u) * D;
  var s = 0.0;
  for (var j = li; j < D; j += ${WG}u) {
    let v = x[src + j];
    s += v * v;
  }
  part[li] = s;
  workgroupBarrier();
  for (var n = ${WG / 2}u; n > 0u; n >>= 1u) {
    if (li < n) {
      part[li] += part[li + n];
    }
    workgroupBarrier();
  }
  let scale = 1.0 / sqrt(part[0] / f32(D) + 1e-5);
  for (var j = li; j < D; j += ${WG}u) {
    y[r * D + j] = x[src + j] * scale;
  }
}
`
}

/**
 * Causal attention over each nonce's S positions: qkv is R × 3d (Q ‖ K ‖ V per row), o is R × d.
 * One invocation per (nonce, head, query position). Workgroups: 2-D, see `grid`.
 */
function attentionShader(B: number, S: number, h: number, dh: number): string {
  const d = h * dh
  return `
const S = ${S}u;
const H = ${h}u;
const DH = ${dh}u;
const D = ${d}u;
const TOTAL = ${B * h * S}u;
@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read_write> o: array<f32>;

@compute @workgroup_size(${WG})
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) li: u32,
) {
  let n = (wid.y * nwg.x + wid.x) * ${WG}u + li;
  if (n >= TOTAL) {
    return;
  }
  let i = n % S;
  let head = (n / S) % H;
  let b = n / (S * H);
  let q = (b * S + i) * 3u * D + head * DH;
  var p: array<f32, ${S}>;
  var top = -3.0e38;
  for (var j = 0u; j <= i; j++) {
    let k = (b * S + j) * 3u * D + D + head * DH;
    var s = 0.0;
    for (var c = 0u; c < DH; c++) {
      s += qkv[q + c] * qkv[k + c];
    }
    s *= ${1 / Math.sqrt(dh)};
    p[j] = s;
    top = max(top, s);
  }
  var z = 0.0;
  for (var j = 0u; j <= i; j++) {
    p[j] = exp(p[j] - top);
    z += p[j];
  }
  for (var c = 0u; c < DH; c++) {
    var acc = 0.0;
    for (var j = 0u; j <= i; j++) {
      acc += p[j] * qkv[(b * S + j) * 3u * D + 2u * D + head * DH + c];
    }
    o[(b * S + i) * D + head * DH + c] = acc / z;
  }
}
`
}

/** A 2-D grid of at least `groups` workgroups within the per-dimension limit. */
function grid(groups: number): [number, number] {
  const x = Math.min(groups, MAX_WORKGROUPS)
  return [x, Math.ceil(groups / x)]
}

interface Step {
  pipeline: GPUComputePipeline
  bindGroup: GPUBindGroup
  workgroups: [number, number]
}

/**
 * The Race on WebGPU (Dawn): the weights are generated once by the reference PRNG and uploaded
 * once (Wq, Wk, Wv concatenated per layer into one d × 3d matrix), the forward pass runs as WGSL
 * compute shaders for `batch` nonces per submission in float32, and the logits come back to the
 * host, where the permutation, centring and distance are the reference's own.
 */
export class WebGpuRaceBackend implements RaceBackend {
  readonly name = 'webgpu'
  private closed = false
  /** The latest call of `distances`: calls run one after another (they share the readback buffer). */
  private running: Promise<unknown> = Promise.resolve()

  private constructor(
    readonly profile: RaceProfile,
    private readonly seed: Uint8Array,
    /** Dawn lives while this is referenced; close() lets it go. */
    private gpu: GPU | undefined,
    private readonly device: GPUDevice,
    private readonly buffers: GPUBuffer[],
    private readonly tokens: GPUBuffer,
    private readonly logits: GPUBuffer,
    private readonly readback: GPUBuffer,
    private readonly steps: Step[],
    private readonly target: Float64Array,
    private readonly batch: number,
    /** Adapter description, for logs. */
    readonly adapterInfo: string,
  ) {}

  /** Open a device and upload the weights; `WebGpuUnavailableError` when there is no adapter. */
  static async create(
    profile: RaceProfile,
    seed: Uint8Array,
    opts: WebGpuRaceOptions = {},
  ): Promise<WebGpuRaceBackend> {
    const { width: d, heads: h, ffn: f, vocab: V, seqLen: S } = profile
    const B = opts.batch ?? 256
    if (!Number.isSafeInteger(B) || B < 1 || B * S > MAX_WORKGROUPS) {
      throw new RangeError(`batch must be an integer in [1, ${Math.floor(MAX_WORKGROUPS / S)}]`)
    }
    const R = B * S
    const { gpu, adapter } = await requestWebGpuAdapter(opts)
    const meta = { dawnFlags: opts.dawnFlags ?? [] }
    const largest = 4 * Math.max(R * f, R * 3 * d, B * V, V * d, d * f, d * 3 * d)
    if (largest > adapter.limits.maxStorageBufferBindingSize || largest > adapter.limits.maxBufferSize) {
      throw new WebGpuError(
        'WEBGPU_FAILED',
        `a buffer of ${largest} bytes exceeds the adapter's limits (binding ${adapter.limits.maxStorageBufferBindingSize}, buffer ${adapter.limits.maxBufferSize}): use a smaller batch`,
        meta,
      )
    }
    const device = await adapter.requestDevice({
      requiredLimits: {
        maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
        maxBufferSize: adapter.limits.maxBufferSize,
      },
    })
    const info = adapter.info
    const adapterInfo = [info.vendor, info.architecture, info.device, info.description]
      .filter((s) => s !== '')
      .join(' ')
    const buffers: GPUBuffer[] = []
    try {
      device.pushErrorScope('out-of-memory')
      device.pushErrorScope('validation')
      const storage = (bytes: number, label: string): GPUBuffer => {
        const b = device.createBuffer({ label, size: bytes, usage: STORAGE | COPY_DST | COPY_SRC })
        buffers.push(b)
        return b
      }
      const upload = (data: Float32Array, label: string): GPUBuffer => {
        const b = storage(data.byteLength, label)
        device.queue.writeBuffer(b, 0, data)
        return b
      }

      // Weights, once.
      const w = generateWeights(profile, seed)
      const embedding = upload(w.embedding, 'embedding')
      const layers = w.layers.map((l, i) => {
        const qkv = new Float32Array(d * 3 * d)
        for (let r = 0; r < d; r++) {
          qkv.set(l.wq.subarray(r * d, (r + 1) * d), r * 3 * d)
          qkv.set(l.wk.subarray(r * d, (r + 1) * d), r * 3 * d + d)
          qkv.set(l.wv.subarray(r * d, (r + 1) * d), r * 3 * d + 2 * d)
        }
        return {
          wqkv: upload(qkv, `l${i}.wqkv`),
          wo: upload(l.wo, `l${i}.wo`),
          w1: upload(l.w1, `l${i}.w1`),
          w2: upload(l.w2, `l${i}.w2`),
        }
      })
      const output = upload(w.output, 'output')

      // Activations for R = B·S rows.
      const tokens = storage(4 * R, 'tokens')
      const x = storage(4 * R * d, 'x')
      const a = storage(4 * R * d, 'normed')
      const qkv = storage(4 * R * 3 * d, 'qkv')
      const att = storage(4 * R * d, 'attention')
      const hidden = storage(4 * R * f, 'hidden')
      const z = storage(4 * B * d, 'last')
      const logits = storage(4 * B * V, 'logits')
      const readback = device.createBuffer({ label: 'readback', size: 4 * B * V, usage: MAP_READ | COPY_DST })
      buffers.push(readback)

      const pipelines = new Map<string, GPUComputePipeline>()
      const pipeline = async (code: string): Promise<GPUComputePipeline> => {
        let p = pipelines.get(code)
        if (p === undefined) {
          const module = device.createShaderModule({ code })
          const errors = (await module.getCompilationInfo()).messages.filter((m) => m.type === 'error')
          if (errors.length > 0) {
            throw new WebGpuError(
              'WEBGPU_FAILED',
              `WGSL did not compile: ${errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('; ')}`,
              meta,
            )
          }
          p = await device.createComputePipelineAsync({
            layout: 'auto',
            compute: { module, entryPoint: 'main' },
          })
          pipelines.set(code, p)
        }
        return p
      }
      const kind = opts.matmul ?? 'tiled'
      const step = async (code: string, bind: GPUBuffer[], workgroups: [number, number]): Promise<Step> => {
        const p = await pipeline(code)
        const bindGroup = device.createBindGroup({
          layout: p.getBindGroupLayout(0),
          entries: bind.map((buffer, binding) => ({ binding, resource: { buffer } })),
        })
        return { pipeline: p, bindGroup, workgroups }
      }
      const mm = (M: number, K: number, N: number, epilogue: Epilogue, bind: GPUBuffer[]): Promise<Step> =>
        step(
          matmulShader(kind, M, K, N, epilogue),
          bind,
          kind === 'tiled' ? [Math.ceil(N / 32), Math.ceil(M / 32)] : [Math.ceil(N / WG), M],
        )

      const steps: Step[] = [await step(embedShader(d), [tokens, embedding, x], [R, 1])]
      const rmsAll = rmsShader(d, 0, 1)
      for (const l of layers) {
        steps.push(
          await step(rmsAll, [x, a], [R, 1]),
          await mm(R, d, 3 * d, 'store', [a, l.wqkv, qkv]),
          await step(attentionShader(B, S, h, d / h), [qkv, att], grid(Math.ceil((B * h * S) / WG))),
          await mm(R, d, d, 'add', [att, l.wo, x]),
          await step(rmsAll, [x, a], [R, 1]),
          await mm(R, d, f, 'relu', [a, l.w1, hidden]),
          await mm(R, f, d, 'add', [hidden, l.w2, x]),
        )
      }
      steps.push(
        await step(rmsShader(d, S - 1, S), [x, z], [B, 1]),
        await mm(B, d, V, 'store', [z, output, logits]),
      )

      const validation = await device.popErrorScope()
      const oom = await device.popErrorScope()
      const err = validation ?? oom
      if (err !== null) throw new WebGpuError('WEBGPU_FAILED', `WebGPU setup failed: ${err.message}`, meta)
      return new WebGpuRaceBackend(
        profile,
        seed,
        gpu,
        device,
        buffers,
        tokens,
        logits,
        readback,
        steps,
        targetVector(seed, V),
        B,
        adapterInfo,
      )
    } catch (err) {
      for (const b of buffers) b.destroy()
      device.destroy()
      throw err
    }
  }

  distances(node: Uint8Array, nonces: readonly number[]): Promise<Float64Array> {
    const result = this.running.then(() => this.evaluate(node, nonces))
    this.running = result.catch(() => undefined)
    return result
  }

  private async evaluate(node: Uint8Array, nonces: readonly number[]): Promise<Float64Array> {
    if (this.closed) throw new WebGpuError('WEBGPU_FAILED', 'the WebGPU Race backend is closed')
    const { seqLen: S, vocab: V } = this.profile
    const B = this.batch
    const out = new Float64Array(nonces.length)
    const prepare = (start: number): { tokens: Uint32Array; perms: Int32Array[] } => {
      const tokens = new Uint32Array(B * S) // padding rows: token 0, results ignored
      const perms = nonces.slice(start, start + B).map((nonce, b) => {
        const { tokens: t, perm } = tokensAndPermutation(inputSeed(this.seed, node, nonce), S, V)
        tokens.set(t, b * S)
        return perm
      })
      return { tokens, perms }
    }
    let next = nonces.length > 0 ? prepare(0) : undefined
    for (let start = 0; next !== undefined; start += B) {
      const { tokens, perms } = next
      this.device.pushErrorScope('validation')
      this.device.queue.writeBuffer(this.tokens, 0, tokens)
      const encoder = this.device.createCommandEncoder()
      const pass = encoder.beginComputePass()
      for (const s of this.steps) {
        pass.setPipeline(s.pipeline)
        pass.setBindGroup(0, s.bindGroup)
        pass.dispatchWorkgroups(s.workgroups[0], s.workgroups[1])
      }
      pass.end()
      encoder.copyBufferToBuffer(this.logits, 0, this.readback, 0, 4 * perms.length * V)
      this.device.queue.submit([encoder.finish()])
      const error = this.device.popErrorScope()
      const mapped = this.readback.mapAsync(MAP_MODE_READ, 0, 4 * perms.length * V)
      // The next chunk's inputs are prepared while the device works on this one.
      next = start + B < nonces.length ? prepare(start + B) : undefined
      const err = await error
      if (err !== null) {
        await mapped.catch(() => undefined)
        throw new WebGpuError('WEBGPU_FAILED', `WebGPU dispatch failed: ${err.message}`)
      }
      await mapped
      const logits = new Float32Array(this.readback.getMappedRange(0, 4 * perms.length * V))
      perms.forEach((perm, b) => {
        out[start + b] = distanceFromLogits(logits.subarray(b * V, (b + 1) * V), perm, this.target)
      })
      this.readback.unmap()
    }
    return out
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.running
    for (const b of this.buffers) b.destroy()
    this.device.destroy()
    this.gpu = undefined
  }
}
