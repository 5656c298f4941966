// `npm run bench:race`: the Race function's speed, printed, never asserted.
//  - nonces/s for each profile (devnet, mainnet) and backend (reference, onnxruntime CPU);
//  - achieved GFLOP/s against the peak of a plain onnxruntime MatMul of the same shapes, measured in
//    the same run (efficiency ratio; target: the CPU backend at 60% of that peak or more);
//  - mainnet weight generation: time and memory.
//  - where a WebGPU adapter is present: the same shapes in plain PyTorch fp32 on CUDA
//    (bench/race_torch.py, random weights, same batch) in the same run, and the ratio WebGPU ÷
//    PyTorch (target: 0.5 or more on mainnet). Python: CORDEX_PYTHON, else /usr/bin/python3, else
//    python3 on PATH, whichever imports torch first.
// BENCH_SECONDS (default 8) bounds each throughput measurement; BENCH_PROFILES=devnet skips mainnet.
import ort from 'onnxruntime-node'
import onnxProto from 'onnx-proto'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import {
  flopsPerNonce,
  generateWeights,
  parameterCount,
  ReferenceBackend,
  nodeSeed,
  H,
  type RaceBackend,
  type RaceProfile,
} from '../src/race/index.js'
import { OrtRaceBackend, WebGpuRaceBackend, webgpuAvailable } from '../src/engine/index.js'
import { print, progress, table, num } from './lib/report.js'
import { ROOT } from './lib/daemons.js'

const { onnx } = onnxProto
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8)
const PROFILES = (process.env.BENCH_PROFILES ?? 'devnet,mainnet').split(',')
const BATCH = { devnet: 512, mainnet: 16 } as Record<string, number>
/** Batch of the WebGPU backend, and of the PyTorch baseline it is compared with. */
const GPU_BATCH = 256
/** WebGPU nonces/s ÷ PyTorch fp32 nonces/s, same shapes and batch, at or above which we pass. */
const TORCH_RATIO_TARGET = 0.5
const run = promisify(execFile)

function profileOf(network: string): RaceProfile {
  return (JSON.parse(readFileSync(join(ROOT, 'configs', `${network}.json`), 'utf8')) as { race: RaceProfile })
    .race
}

/** Nonces per second of a backend, over about `seconds` (at least one batch). */
async function rate(backend: RaceBackend, batch: number, seconds: number): Promise<number> {
  const node = nodeSeed(H('cordex/bench/key'))
  await backend.distances(node, [0]) // warm-up
  let done = 0
  const t0 = performance.now()
  while (performance.now() - t0 < seconds * 1000 || done === 0) {
    await backend.distances(
      node,
      Array.from({ length: batch }, (_, i) => done + i),
    )
    done += batch
  }
  return done / ((performance.now() - t0) / 1000)
}

/** GFLOP/s of one plain MatMul [m, k] × [k, n] on onnxruntime, the best of several runs. */
async function matmulPeak(m: number, k: number, n: number): Promise<number> {
  const info = (name: string, dims: number[]): InstanceType<typeof onnx.ValueInfoProto> =>
    onnx.ValueInfoProto.create({
      name,
      type: {
        tensorType: {
          elemType: onnx.TensorProto.DataType.FLOAT,
          shape: { dim: dims.map((dimValue) => ({ dimValue })) },
        },
      },
    })
  const model = onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'matmul',
        node: [{ opType: 'MatMul', input: ['a', 'b'], output: ['c'] }],
        input: [info('a', [m, k]), info('b', [k, n])],
        output: [info('c', [m, n])],
      },
    }),
  ).finish()
  const session = await ort.InferenceSession.create(model)
  const a = new ort.Tensor('float32', new Float32Array(m * k).fill(0.5), [m, k])
  const b = new ort.Tensor('float32', new Float32Array(k * n).fill(0.25), [k, n])
  let best = 0
  const t0 = performance.now()
  while (performance.now() - t0 < 2000) {
    const t = performance.now()
    await session.run({ a, b })
    best = Math.max(best, (2 * m * k * n) / ((performance.now() - t) / 1000) / 1e9)
  }
  await session.release()
  return best
}

/** The peak of the Race's own MatMul shapes, weighted by their share of a nonce's work. */
async function peakFor(p: RaceProfile, batch: number): Promise<number> {
  const rows = batch * p.seqLen
  const shapes: Array<[number, number, number, number]> = [
    [rows, p.width, p.width, 4], // Wq, Wk, Wv, Wo
    [rows, p.width, p.ffn, 1],
    [rows, p.ffn, p.width, 1],
  ]
  let flops = 0
  let seconds = 0
  for (const [m, k, n, count] of shapes) {
    const f = 2 * m * k * n * count
    flops += f
    seconds += f / ((await matmulPeak(m, k, n)) * 1e9)
  }
  return flops / seconds / 1e9
}

interface TorchPython {
  python: string
  version: string
  cuda: boolean
}

/**
 * The Python to run bench/race_torch.py with: CORDEX_PYTHON alone when set, else the first of
 * /usr/bin/python3 and python3 on PATH (which may be another installation) whose torch has CUDA,
 * else the first that imports torch at all; or why there is none. Asked once.
 */
let torchProbe: Promise<TorchPython | string> | undefined
function findTorch(): Promise<TorchPython | string> {
  torchProbe ??= (async () => {
    const candidates = process.env.CORDEX_PYTHON
      ? [process.env.CORDEX_PYTHON]
      : ['/usr/bin/python3', 'python3']
    let found: TorchPython | undefined
    for (const python of candidates) {
      try {
        const { stdout } = await run(
          python,
          ['-c', 'import torch; print(torch.__version__, torch.cuda.is_available())'],
          { timeout: 120_000 },
        )
        const [version = '?', cuda] = stdout.trim().split(/\s+/)
        if (cuda === 'True') return { python, version, cuda: true }
        found ??= { python, version, cuda: false }
      } catch {
        // not there, or no torch: try the next
      }
    }
    return found ?? `no Python with torch (tried ${candidates.join(', ')})`
  })()
  return torchProbe
}

/** Nonces/s of bench/race_torch.py (PyTorch fp32 on CUDA, same shapes and batch), or why not. */
async function torchRate(network: string, batch: number): Promise<number | string> {
  const torch = await findTorch()
  if (typeof torch === 'string') return torch
  if (!torch.cuda) return `torch ${torch.version} at ${torch.python} has no CUDA`
  const args = [join(ROOT, 'bench', 'race_torch.py'), '--device', 'cuda', '--dtype', 'fp32']
  args.push('--network', network, '--batch', String(batch), '--seconds', String(SECONDS))
  try {
    // Generous: weight generation on the device, warm-up, then SECONDS of timing.
    const { stdout } = await run(torch.python, args, { timeout: (SECONDS * 5 + 300) * 1000 })
    const last = stdout.trim().split('\n').pop() ?? ''
    const rate = (JSON.parse(last) as { nonces_per_sec?: unknown }).nonces_per_sec
    return typeof rate === 'number' ? rate : `race_torch.py printed no rate: ${last}`
  } catch (err) {
    return `race_torch.py failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`
  }
}

/**
 * A validator's cost to judge one epoch's proofs as a share of one peer's Race: it recomputes
 * `sampleSize` nonces per proof (one onnxruntime run of that size), against `raceMs` of racing.
 * With committees of `committeeSize`, a validator judges on average committeeSize × provers /
 * validators proofs: `committeeSize` when every prover validates too.
 */
async function validatorCost(name: string, p: RaceProfile, seed: Uint8Array): Promise<string> {
  const genesis = (
    JSON.parse(readFileSync(join(ROOT, 'configs', `${name}.json`), 'utf8')) as {
      genesis: { race: { sampleSize: number; raceMs: number; committeeSize: number } }
    }
  ).genesis.race
  const judge = await OrtRaceBackend.create(p, seed, { batch: genesis.sampleSize })
  const node = nodeSeed(H('cordex/bench/prover'))
  const sample = Array.from({ length: genesis.sampleSize }, (_, i) => i * 977)
  await judge.distances(node, sample)
  const runs = 5
  const t = performance.now()
  for (let i = 0; i < runs; i++) await judge.distances(node, sample)
  const perProof = (performance.now() - t) / runs
  await judge.close()
  const c = genesis.committeeSize
  const share = (proofs: number): string => `${((100 * proofs * perProof) / genesis.raceMs).toFixed(3)}%`
  const judged = (provers: number): number => (c === 0 ? provers : Math.min(c, provers))
  return (
    `${name} validation: ${genesis.sampleSize} sampled nonces per proof take ${perProof.toFixed(1)} ms. ` +
    `Judging every proof of 4 / 20 / 100 provers costs ${share(4)} / ${share(20)} / ${share(100)} of one peer's ` +
    `${genesis.raceMs / 1000} s Race; ` +
    (c === 0
      ? 'this profile has no committees (every validator judges every proof).'
      : `with committees of ${c} (every prover a validator) ${share(judged(4))} / ${share(judged(20))} / ${share(judged(100))}.`)
  )
}

const rows: string[][] = [
  ['profile', 'backend', 'batch', 'nonces/s', 'GFLOP/s', 'MatMul peak GFLOP/s', 'efficiency'],
]
const notes: string[] = []
for (const name of PROFILES) {
  const p = profileOf(name)
  const seed = H('cordex/bench/seed', Buffer.from(name))
  const flops = flopsPerNonce(p)
  progress(
    `${name}: ${(parameterCount(p) / 1e6).toFixed(1)} M parameters, ${(flops / 1e9).toFixed(3)} GFLOP per nonce`,
  )
  if (name === 'mainnet') {
    const before = process.memoryUsage().rss
    const t = performance.now()
    generateWeights(p, seed)
    const ms = performance.now() - t
    const mib = (process.memoryUsage().rss - before) / 2 ** 20
    notes.push(
      `mainnet weights: ${(parameterCount(p) / 1e6).toFixed(0)} M parameters generated in ${(ms / 1000).toFixed(2)} s, about ${mib.toFixed(0)} MiB (RSS growth)`,
    )
    global.gc?.()
  }
  const batch = BATCH[name] ?? 64
  progress(`${name}: onnxruntime CPU, batch ${batch}`)
  const ortBackend = await OrtRaceBackend.create(p, seed, { batch })
  const ortRate = await rate(ortBackend, batch, SECONDS)
  await ortBackend.close()
  notes.push(await validatorCost(name, p, seed))
  progress(`${name}: MatMul peak of the same shapes`)
  const peak = await peakFor(p, batch)
  rows.push([
    name,
    'onnxruntime-cpu',
    String(batch),
    num(ortRate, 1),
    num((ortRate * flops) / 1e9, 1),
    num(peak, 1),
    num((ortRate * flops) / 1e9 / peak, 2),
  ])
  if (await webgpuAvailable()) {
    progress(`${name}: WebGPU, batch ${GPU_BATCH}`)
    const gpu = await WebGpuRaceBackend.create(p, seed, { batch: GPU_BATCH })
    const gpuRate = await rate(gpu, GPU_BATCH, SECONDS)
    await gpu.close()
    rows.push([name, 'webgpu', String(GPU_BATCH), num(gpuRate, 1), num((gpuRate * flops) / 1e9, 1), '', ''])
    progress(`${name}: PyTorch fp32 on CUDA, batch ${GPU_BATCH} (bench/race_torch.py)`)
    const torch = await torchRate(name, GPU_BATCH)
    if (typeof torch === 'number') {
      rows.push([
        name,
        'pytorch-cuda-fp32',
        String(GPU_BATCH),
        num(torch, 1),
        num((torch * flops) / 1e9, 1),
        '',
        '',
      ])
      const ratio = gpuRate / torch
      // The target is set on mainnet; devnet is launch-bound and its ratio is for information.
      const verdict = name === 'mainnet' ? (ratio >= TORCH_RATIO_TARGET ? ' PASS' : ' BELOW TARGET') : ''
      notes.push(
        `${name} WebGPU ÷ PyTorch fp32 (batch ${GPU_BATCH}): ${num(gpuRate, 1)} / ${num(torch, 1)} nonces/s = ` +
          `${ratio.toFixed(2)} (target ≥ ${TORCH_RATIO_TARGET} on mainnet)${verdict}`,
      )
    } else notes.push(`${name} PyTorch fp32 baseline: not measured, ${torch}`)
  }
  progress(`${name}: reference (TypeScript)`)
  const ref = new ReferenceBackend(p, seed)
  const refRate = await rate(ref, name === 'mainnet' ? 1 : 64, name === 'mainnet' ? 1 : SECONDS)
  rows.push([
    name,
    'reference',
    name === 'mainnet' ? '1' : '64',
    num(refRate, 3),
    num((refRate * flops) / 1e9, 2),
    '',
    '',
  ])
}
print('')
print('Race function v1: nonces per second (2 CPU threads)')
print(table(rows))
for (const n of notes) print(n)
print('targets: onnxruntime CPU backend at 60% of the MatMul peak or more; validation under 1% of a Race')
if (!(await webgpuAvailable())) {
  print('webgpu: no adapter on this machine, not measured')
  const torch = await findTorch()
  print(
    'pytorch fp32 baseline: not measured, no GPU (no WebGPU adapter)' +
      (typeof torch === 'string'
        ? ` and ${torch}`
        : `; torch ${torch.version} at ${torch.python}, CUDA ${torch.cuda ? 'available' : 'not available'}`),
  )
}
