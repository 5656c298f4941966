// `npm run calibrate:verify`: how far apart honest generation and its replay are, so that the
// replay epsilons (DEFAULT_REPLAY_EPSILON in src/engine/llm/replay.ts) separate float noise from a
// wrong token. Printed, never asserted.
//  - CORDEX_CALIBRATE_TASKS (default 1000) honest tasks on kjv-small: prompts of 1 to ~180 tokens cut
//    from King James-style text the model itself writes from a few verse openings; greedy and sampled
//    with varied temperature, top-k, top-p, penalties and stop strings; each generated on 1 or 2
//    threads (alternately) and replayed on both.
//  - Recorded: the largest |logit difference| between the rows generation sampled from (KV-cache
//    steps) and the replay's teacher-forced rows; the smallest greedy top-2 gap and the smallest
//    draw-to-boundary distance where the executor's token was the pick; near-ties used; honest
//    failures with the default epsilons (must be 0) and with epsilon 0 (exact replay).
import { join } from 'node:path'
import {
  DEFAULT_REPLAY_EPSILON,
  GREEDY,
  OrtDecoder,
  TextModel,
  generate,
  replayFeed,
  replayRule,
  type GenerationRequest,
  type LoopModel,
  type ReplayContext,
  type ReplayEpsilon,
  type ReplayRequest,
  type SamplingParams,
} from '../src/engine/index.js'
import { ROOT } from './lib/daemons.js'
import { print, progress, table } from './lib/report.js'
import { seededRandom } from './lib/stats.js'

const TASKS = Number(process.env.CORDEX_CALIBRATE_TASKS ?? 1000)
/** CPU against GPU (WebGPU provider on an H200), teacher-forced: FINDINGS.md, "GPU". */
const GPU_NOISE = 6e-5
const OPENINGS = [
  'In the beginning God created the heaven and the earth.',
  'And the LORD spake unto Moses, saying,',
  'Blessed is the man that walketh not in the counsel of the ungodly,',
  'The LORD is my shepherd; I shall not want.',
  'And it came to pass in those days,',
  'Then answered Jesus and said unto them,',
  'Hear, O Israel: The LORD our God is one LORD:',
  'For God so loved the world,',
]
const STOPS = [[], [], [], ['.'], [';', ':'], ['LORD'], ['\n'], ['and the']]

async function main(): Promise<void> {
  const dir = join(ROOT, 'models', 'kjv-small')
  const model = await TextModel.load(dir)
  const decoders = new Map<number, OrtDecoder>()
  for (const threads of [1, 2])
    decoders.set(threads, await OrtDecoder.open(dir, model.spec, { threads, spinning: false }))
  const ctx: ReplayContext = { ...model.spec, decode: (ids) => model.decode(ids) }
  const rand = seededRandom(20261110)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!

  // Generation with every row it sampled from kept, to compare with the replay's rows.
  const run = async (
    threads: number,
    req: GenerationRequest,
  ): Promise<{ tokens: number[]; rows: Float32Array[] }> => {
    const d = decoders.get(threads)!
    const rows: Float32Array[] = []
    const loop: LoopModel = {
      step: async (c, t) => {
        const r = await d.step(c, t)
        rows.push(r.logits)
        return r
      },
      emptyCache: () => d.emptyCache(),
      decode: ctx.decode,
      eos: ctx.eos,
      contextLength: ctx.contextLength,
    }
    const r = await generate(loop, req, () => {})
    return { tokens: r.tokens, rows }
  }

  progress('writing the prompt text')
  const corpus: number[] = []
  for (const [i, o] of OPENINGS.entries()) {
    const sampling = { ...GREEDY, temperature: 0.9, topK: 40, repetitionPenalty: 1.1 }
    const seed = new Uint8Array(32).fill(i + 1)
    const ids = model.encode(o)
    const r = await run(2, { promptIds: ids, sampling, seed, maxTokens: 255 - ids.length, stop: [] })
    corpus.push(...ids, ...r.tokens.filter((t) => !ctx.eos.includes(t)))
  }

  const exact: ReplayEpsilon = { logit: 0, draw: 0 }
  const stats = {
    tasks: 0,
    positions: 0,
    greedyTasks: 0,
    maxDiff: 0,
    diffBy: { same: 0, cross: 0 },
    minGap: Infinity,
    minDraw: Infinity,
    nearTies: 0,
    failures: 0,
    exactFailures: 0,
    stopEnds: 0,
    genMs: 0,
    replayMs: 0,
  }
  const failures: string[] = []
  const t0 = performance.now()
  for (let k = 0; k < TASKS; k++) {
    const greedy = rand() < 0.35
    const sampling: SamplingParams = greedy
      ? { ...GREEDY, repetitionPenalty: pick([1, 1, 1.1, 1.3]), frequencyPenalty: pick([0, 0, 0.5]) }
      : {
          temperature: pick([0.2, 0.5, 0.7, 0.8, 1, 1.2, 1.5, 2]),
          topK: pick([0, 0, 1, 5, 40, 200]),
          topP: pick([1, 1, 0.95, 0.9, 0.5, 0.1]),
          repetitionPenalty: pick([1, 1, 1.1, 1.5]),
          frequencyPenalty: pick([0, 0, 0.3, -0.5, 1]),
          presencePenalty: pick([0, 0, 0.4, -0.3]),
        }
    const P = 1 + Math.floor(rand() ** 2 * 180)
    const from = Math.floor(rand() * (corpus.length - P))
    const promptIds = corpus.slice(from, from + P)
    const seed = new Uint8Array(32)
    new DataView(seed.buffer).setUint32(0, k)
    const req: GenerationRequest = {
      promptIds,
      sampling,
      seed,
      maxTokens: 8 + Math.floor(rand() * 40),
      stop: pick(STOPS),
    }
    const genThreads = (k % 2) + 1
    const g0 = performance.now()
    const gen = await run(genThreads, req)
    stats.genMs += performance.now() - g0
    const rreq: ReplayRequest = { ...req, tokens: gen.tokens }
    stats.tasks++
    stats.positions += gen.tokens.length
    if (greedy) stats.greedyTasks++
    if (gen.tokens.length < req.maxTokens && !ctx.eos.includes(gen.tokens.at(-1)!)) stats.stopEnds++
    for (const threads of [1, 2]) {
      const r0 = performance.now()
      const fed = replayFeed(ctx, rreq)
      const rows = await decoders.get(threads)!.score([...promptIds, ...gen.tokens.slice(0, fed)], P - 1)
      const v = replayRule(ctx, rreq, rows, DEFAULT_REPLAY_EPSILON)
      stats.replayMs += performance.now() - r0
      // Generation sampled from gen.rows[i]; the replay's row i predicts the same position.
      let diff = 0
      gen.rows.forEach((row, i) => {
        for (let t = 0; t < row.length; t++)
          diff = Math.max(diff, Math.abs(row[t]! - rows[i * ctx.vocab + t]!))
      })
      stats.maxDiff = Math.max(stats.maxDiff, diff)
      const kind = threads === genThreads ? 'same' : 'cross'
      stats.diffBy[kind] = Math.max(stats.diffBy[kind], diff)
      if (!v.ok) {
        stats.failures++
        failures.push(`task ${k} (${threads} threads): ${JSON.stringify(v)}`)
        continue
      }
      stats.nearTies += v.nearTies
      if (v.mode === 'greedy') stats.minGap = Math.min(stats.minGap, v.minMargin)
      else stats.minDraw = Math.min(stats.minDraw, v.minMargin)
      if (!replayRule(ctx, rreq, rows, exact).ok) stats.exactFailures++
    }
    if ((k + 1) % 100 === 0) progress(`${k + 1} tasks, ${((performance.now() - t0) / 1000).toFixed(0)} s`)
  }
  for (const d of decoders.values()) await d.close()

  const e = DEFAULT_REPLAY_EPSILON
  const noise = Math.max(stats.maxDiff, GPU_NOISE)
  const sci = (x: number): string => (Number.isFinite(x) ? x.toExponential(2) : '—')
  print(
    `verify calibration: ${stats.tasks} honest tasks on ${model.id} (${stats.greedyTasks} greedy), ${stats.positions} positions`,
  )
  print(`each generated on 1 or 2 threads and replayed on both; ${stats.stopEnds} ended by a stop string`)
  print(
    `wall ${((performance.now() - t0) / 1000).toFixed(1)} s; generation ${(stats.genMs / 1000).toFixed(1)} s, replays ${(stats.replayMs / 1000).toFixed(1)} s`,
  )
  print()
  print(
    table([
      ['measure', 'value'],
      ['max |logit diff|, generation vs replay, same threads', sci(stats.diffBy.same)],
      ['max |logit diff|, generation vs replay, other threads', sci(stats.diffBy.cross)],
      ['smallest greedy top-2 gap (logits)', sci(stats.minGap)],
      ['smallest draw-to-boundary distance (fraction)', sci(stats.minDraw)],
      ['near-ties used (default epsilons)', String(stats.nearTies)],
      [
        `honest failures, epsilon ${sci(e.logit)} / ${sci(e.draw)}`,
        `${stats.failures} of ${stats.tasks * 2}`,
      ],
      ['honest failures, epsilon 0 (exact)', `${stats.exactFailures} of ${stats.tasks * 2}`],
    ]),
  )
  print()
  // Honest failures come only from noise beyond epsilon, so epsilon is set from the noise, with a
  // safety factor. A gap or draw distance below epsilon is no honest failure: it is where a cheat
  // choosing the runner-up would pass (slack), which shrinks with epsilon, not a scale to stay under.
  const minT = 0.2
  print(
    `noise floor: ${sci(noise)} (this run's ${sci(stats.maxDiff)}; CPU vs GPU ${sci(GPU_NOISE)}, FINDINGS.md)`,
  )
  print(`recommended logit epsilon ≥ 1.5 × noise floor = ${sci(1.5 * noise)}`)
  print(
    `recommended draw epsilon ≥ 1.5 × noise / (2 T) at T = ${minT} (a logit error δ moves a boundary ` +
      `by at most about δ/(2T) of the weight) = ${sci((1.5 * noise) / (2 * minT))}`,
  )
  print(
    `chosen (DEFAULT_REPLAY_EPSILON): logit ${sci(e.logit)} = ${(e.logit / stats.maxDiff).toFixed(1)}× this run's ` +
      `noise, ${(e.logit / GPU_NOISE).toFixed(1)}× CPU–GPU; smallest honest greedy gap ${sci(stats.minGap)} ` +
      `(${(stats.minGap / e.logit).toFixed(2)}× epsilon)`,
  )
  print(
    `chosen draw ${sci(e.draw)} = ${(e.draw / (stats.maxDiff / (2 * minT))).toFixed(1)}× this run's noise at T ${minT}, ` +
      `${(e.draw / (GPU_NOISE / (2 * minT))).toFixed(1)}× CPU–GPU; smallest honest draw distance ${sci(stats.minDraw)}`,
  )
  for (const f of failures.slice(0, 10)) print(`FAILURE ${f}`)
}

await main()
