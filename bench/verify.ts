// `npm run bench:verify`: what a replay costs and what one catches. Printed, never asserted.
//  - Cost: Engine.replay against the Engine.generate it checks, same engine, same run, median of
//    BENCH_RUNS (default 5) runs per shape (prompt → output tokens): 32→224 and 192→64 on kjv-small
//    (context 256: 32→256 does not fit, so 32→224), and 1000→50 on llama-tiny with its context
//    raised to 1100 in a temporary copy (rotary positions, no learned table; the carried model is
//    not touched). Greedy and sampled both; an output that ends early (end-of-sequence) is reported.
//  - Catch rate of one replay (through Engine.replay) against content cheats on kjv-small, over
//    BENCH_TASKS (default 100) tasks each: wrong tokens at 1%, 10% and 50% of positions (the pick
//    replaced by another token, the rest generated on from there), kjv-tiny served instead,
//    truncation at half, greedy when sampling was asked; and honest false positives (target 0).
//  - With the argument `freivalds` (`npm run bench:verify -- freivalds`): only the cost of a
//    Freivalds audit of int8 products and its soundness table (bench/freivalds.ts).
//  - With the argument `batch` (`npm run bench:verify -- batch`): only the throughput of a batch job
//    against single requests on a 2-daemon devnet (bench/batchThroughput.ts; BENCH_TASKS default 16).
//  - With `audit` (`npm run bench:verify -- audit`): the whole audit of a real kjv-small-int8 task
//    (commit, open, check) against its inference, its products and a replay (bench/int8Audit.ts).
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  Engine,
  GREEDY,
  OrtDecoder,
  TextModel,
  generate,
  sha256Hex,
  type GenerationRequest,
  type LoopModel,
  type SamplingParams,
} from '../src/engine/index.js'
import { ROOT } from './lib/daemons.js'
import { freivaldsBench } from './freivalds.js'
import { batchThroughput } from './batchThroughput.js'
import { int8AuditBench } from './int8Audit.js'
import { print, progress, table, ms } from './lib/report.js'
import { seededRandom, summarize } from './lib/stats.js'

const RUNS = Number(process.env.BENCH_RUNS ?? 5)
const TASKS = Number(process.env.BENCH_TASKS ?? 100)
const SMALL = join(ROOT, 'models', 'kjv-small')
const TINY = join(ROOT, 'models', 'kjv-tiny')
const SAMPLED: SamplingParams = { ...GREEDY, temperature: 0.8, topK: 40, topP: 0.95, repetitionPenalty: 1.1 }
const TEXT =
  'And the LORD spake unto Moses, saying, Speak unto the children of Israel, and say unto them, When ' +
  'any man of you bring an offering unto the LORD, ye shall bring your offering of the cattle, even of ' +
  'the herd, and of the flock. If his offering be a burnt sacrifice of the herd, let him offer a male ' +
  'without blemish: he shall offer it of his own voluntary will at the door of the tabernacle of the ' +
  'congregation before the LORD. '

/** llama-tiny with its manifest's and config's context raised to `positions`, in a temp dir. */
function longLlama(positions: number): string {
  const src = join(ROOT, 'test', 'fixtures', 'models', 'llama-tiny')
  const dir = mkdtempSync(join(tmpdir(), 'cx-llama-long-'))
  const manifest = JSON.parse(readFileSync(join(src, 'manifest.json'), 'utf8')) as {
    contextLength: number
    files: Record<string, string>
  }
  for (const f of Object.keys(manifest.files)) copyFileSync(join(src, f), join(dir, f))
  const config = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8')) as Record<string, unknown>
  config.max_position_embeddings = positions
  const configText = JSON.stringify(config, null, 2)
  writeFileSync(join(dir, 'config.json'), configText)
  manifest.contextLength = positions
  manifest.files['config.json'] = sha256Hex(Buffer.from(configText))
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2))
  return dir
}

/** Prompt ids of exactly `n` tokens, cut from repeated King James text. */
function promptOf(model: TextModel, n: number): number[] {
  const ids: number[] = []
  while (ids.length < n) ids.push(...model.encode(TEXT))
  return ids.slice(0, n)
}

async function cost(): Promise<string[][]> {
  const long = longLlama(1100)
  const rows: string[][] = [['model', 'shape', 'sampling', 'generation', 'replay', 'replay / generation']]
  const engine = await Engine.start({ models: [SMALL, long], threads: 2, maxActive: 1, maxQueue: 4 })
  try {
    const shapes: Array<[string, number, number]> = [
      ['kjv-small', 32, 224],
      ['kjv-small', 192, 64],
      ['llama-tiny', 1000, 50],
    ]
    for (const [name, P, N] of shapes) {
      const model = engine.model(name)!
      for (const sampling of [GREEDY, SAMPLED]) {
        const gens: number[] = []
        const reps: number[] = []
        for (let r = 0; r < RUNS; r++) {
          const req: GenerationRequest = {
            promptIds: promptOf(model, P),
            sampling,
            seed: new Uint8Array(32).fill(r + 1),
            maxTokens: N,
            stop: [],
          }
          const g0 = performance.now()
          const out = await engine.generate(model.id, req, () => {})
          gens.push(performance.now() - g0)
          const r0 = performance.now()
          const v = await engine.replay(model.id, { ...req, tokens: out.tokens })
          reps.push(performance.now() - r0)
          if (!v.ok) throw new Error(`honest replay failed: ${JSON.stringify(v)}`)
          if (out.tokens.length !== N) progress(`${name} ${P}→${N}: ended at ${out.tokens.length} tokens`)
        }
        const g = summarize(gens).p50
        const rp = summarize(reps).p50
        rows.push([
          name,
          `${P}→${N}`,
          sampling.temperature === 0 ? 'greedy' : 'sampled',
          ms(g),
          ms(rp),
          (rp / g).toFixed(3),
        ])
        progress(`cost ${name} ${P}→${N} done`)
      }
    }
  } finally {
    await engine.stop()
    rmSync(long, { recursive: true, force: true })
  }
  return rows
}

type Cheat =
  'honest' | 'wrong 1%' | 'wrong 10%' | 'wrong 50%' | 'kjv-tiny' | 'truncated at half' | 'greedy for sampled'

/**
 * The cheating executor: generate() over the decoder files, with `rate` of the picks replaced by
 * another token (its logit raised far above the rest, so the sampler takes it and the PRNG stream
 * moves on as usual). Returns the tokens and how many were replaced.
 */
async function perturb(
  decoder: OrtDecoder,
  model: TextModel,
  req: GenerationRequest,
  rate: number,
  rand: () => number,
): Promise<{ tokens: number[]; altered: number }> {
  let altered = 0
  const loop: LoopModel = {
    step: async (c, t) => {
      const r = await decoder.step(c, t)
      if (rate > 0 && rand() < rate) {
        // Any token but an end-of-sequence one, and not the current best (so it differs at greedy).
        let best = 0
        for (let i = 1; i < r.logits.length; i++) if (r.logits[i]! > r.logits[best]!) best = i
        let other = best
        while (other === best || model.spec.eos.includes(other)) other = Math.floor(rand() * model.spec.vocab)
        r.logits[other] = 1e9
        altered++
      }
      return r
    },
    emptyCache: () => decoder.emptyCache(),
    decode: (ids) => model.decode(ids),
    eos: model.spec.eos,
    contextLength: model.spec.contextLength,
  }
  const out = await generate(loop, req, () => {})
  return { tokens: out.tokens, altered }
}

async function catchRates(): Promise<string[][]> {
  const small = await TextModel.load(SMALL)
  const tiny = await TextModel.load(TINY)
  const dSmall = await OrtDecoder.open(SMALL, small.spec, { threads: 1, spinning: false })
  const dTiny = await OrtDecoder.open(TINY, tiny.spec, { threads: 1, spinning: false })
  const engine = await Engine.start({
    models: [SMALL],
    threads: 1,
    maxActive: 1,
    maxQueue: 4,
    spinning: false,
  })
  const rand = seededRandom(7)
  const corpus = promptOf(small, 240)
  const cheats: Cheat[] = [
    'honest',
    'wrong 1%',
    'wrong 10%',
    'wrong 50%',
    'kjv-tiny',
    'truncated at half',
    'greedy for sampled',
  ]
  const rows: string[][] = [
    ['cheat', 'tasks', 'altered', 'caught', 'catch rate', 'of altered', 'caught at (median)'],
  ]
  try {
    for (const cheat of cheats) {
      let caught = 0
      let alteredTasks = 0
      let caughtAltered = 0
      const at: number[] = []
      for (let k = 0; k < TASKS; k++) {
        const P = 4 + Math.floor(rand() * 150)
        const from = Math.floor(rand() * (corpus.length - P))
        const sampling = k % 4 === 0 ? GREEDY : { ...SAMPLED, temperature: 0.5 + rand() }
        const seed = new Uint8Array(32)
        new DataView(seed.buffer).setUint32(0, k + 1000 * cheats.indexOf(cheat))
        const req: GenerationRequest = {
          promptIds: corpus.slice(from, from + P),
          sampling,
          seed,
          maxTokens: 32,
          stop: [],
        }
        let tokens: number[]
        let altered = true
        switch (cheat) {
          case 'honest':
            tokens = (await perturb(dSmall, small, req, 0, rand)).tokens
            altered = false
            break
          case 'wrong 1%':
          case 'wrong 10%':
          case 'wrong 50%': {
            const r = await perturb(dSmall, small, req, Number(cheat.slice(6, -1)) / 100, rand)
            tokens = r.tokens
            altered = r.altered > 0
            break
          }
          case 'kjv-tiny':
            tokens = (await perturb(dTiny, tiny, req, 0, rand)).tokens
            break
          case 'truncated at half': {
            const full = (await perturb(dSmall, small, req, 0, rand)).tokens
            tokens = full.slice(0, Math.max(1, Math.floor(full.length / 2)))
            altered = tokens.length < full.length
            break
          }
          case 'greedy for sampled':
            tokens = (await perturb(dSmall, small, { ...req, sampling: GREEDY }, 0, rand)).tokens
            altered = sampling.temperature > 0
            break
        }
        const v = await engine.replay(small.id, { ...req, tokens })
        if (altered) alteredTasks++
        if (!v.ok) {
          caught++
          if (altered) caughtAltered++
          at.push(v.position)
        }
      }
      const pct = (a: number, b: number): string => (b === 0 ? '—' : `${((100 * a) / b).toFixed(1)}%`)
      rows.push([
        cheat,
        String(TASKS),
        String(alteredTasks),
        String(caught),
        pct(caught, TASKS),
        cheat === 'honest' ? '—' : pct(caughtAltered, alteredTasks),
        at.length > 0 ? String(summarize(at).p50) : '—',
      ])
      progress(`catch rate: ${cheat} done`)
    }
  } finally {
    await engine.stop()
    await dSmall.close()
    await dTiny.close()
  }
  return rows
}

async function main(): Promise<void> {
  // `npm run bench:verify -- freivalds`: only the Freivalds audit section (bench/freivalds.ts).
  if (process.argv.includes('freivalds')) return freivaldsBench()
  // `npm run bench:verify -- batch`: only batch jobs against single requests (bench/batchThroughput.ts).
  if (process.argv.includes('batch')) return batchThroughput()
  // `npm run bench:verify -- audit`: the whole audit of a real int8 task (bench/int8Audit.ts).
  if (process.argv.includes('audit')) return int8AuditBench()
  const costRows = await cost()
  const catchRows = await catchRates()
  print(`replay cost (Engine.replay vs the Engine.generate it checks; 2 threads; median of ${RUNS})`)
  print(table(costRows))
  print()
  print(`catch rate of one replay (kjv-small, ${TASKS} tasks each, 32 tokens, 1/4 greedy; 1 thread)`)
  print(table(catchRows))
}

await main()
