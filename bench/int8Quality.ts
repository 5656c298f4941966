// `npm run bench:int8`: the int8 model SKU (issue 13, item 1) against the float model it was made
// from, printed, never asserted:
//  - held-out loss: mean next-token cross-entropy, teacher-forced, over consecutive non-overlapping
//    windows of 257 tokens of the held-out chapters (the float model's training script holds out
//    every chapter whose index % 20 == 10 and never trains on it: scripts/model/train.py), as
//    train.py's evaluate() computes it; and the ratio int8 / float (the SKU ships below 1.05);
//  - greedy agreement: the share of those positions whose argmax agrees, and the share of greedy
//    continuations (GREEDY_TOKENS new tokens after the first PROMPT_TOKENS tokens of a window, KV
//    cache) that agree token for token.
// The corpus is not in the repository: make it with `scripts/model/corpus.sh` (Debian's bible-kjv)
// and pass its path as the first argument (default build/model/kjv.txt). Models: the second and
// third arguments (default models/kjv-small and models/kjv-small-int8).
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { OrtDecoder, TextModel, argmax } from '../src/engine/index.js'
import { print, progress, table, num } from './lib/report.js'

const CORPUS = resolve(process.argv[2] ?? 'build/model/kjv.txt')
const FLOAT = resolve(process.argv[3] ?? 'models/kjv-small')
const INT8 = resolve(process.argv[4] ?? 'models/kjv-small-int8')
const CTX = 256
const PROMPT_TOKENS = 32
const GREEDY_TOKENS = 32
/** Continuations compared (one per window, from the first). */
const CONTINUATIONS = Number(process.env.INT8_CONTINUATIONS ?? 100)

/** Mean cross-entropy of `target` under `logits` rows, summed; and each row's argmax. */
function crossEntropy(
  logits: Float32Array,
  vocab: number,
  targets: readonly number[],
): { sum: number; top: number[] } {
  let sum = 0
  const top: number[] = []
  for (let i = 0; i < targets.length; i++) {
    const row = logits.subarray(i * vocab, (i + 1) * vocab)
    let max = -Infinity
    for (const v of row) if (v > max) max = v
    let z = 0
    for (const v of row) z += Math.exp(v - max)
    sum += max + Math.log(z) - row[targets[i]!]!
    top.push(argmax(row))
  }
  return { sum, top }
}

async function greedy(decoder: OrtDecoder, prompt: readonly number[], n: number): Promise<number[]> {
  let { logits, cache } = await decoder.step(decoder.emptyCache(), prompt)
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const t = argmax(logits)
    out.push(t)
    ;({ logits, cache } = await decoder.step(cache, [t]))
  }
  return out
}

async function main(): Promise<void> {
  if (!existsSync(CORPUS)) {
    print(`no corpus at ${CORPUS}: run scripts/model/corpus.sh (needs Debian's bible-kjv) first`)
    process.exitCode = 1
    return
  }
  const model = await TextModel.load(FLOAT)
  const int8Model = await TextModel.load(INT8)
  const { spec } = model
  const eos = spec.eos[0]!
  // As scripts/model/train.py: chapters separated by a blank line, every 20th (index % 20 == 10)
  // held out, each followed by <|endoftext|>.
  const chapters = readFileSync(CORPUS, 'utf8')
    .split('\n\n')
    .map((c) => c.replace(/^\n+|\n+$/g, ''))
  const held: number[] = []
  chapters.forEach((c, i) => {
    if (i % 20 === 10) held.push(...model.encode(c), eos)
  })
  const windows = Math.floor((held.length - 1) / CTX)
  progress(
    `held-out: ${held.length} tokens of ${Math.ceil(chapters.length / 20)} chapters, ${windows} windows`,
  )
  const f = await OrtDecoder.open(FLOAT, spec, { threads: 2 })
  const q = await OrtDecoder.open(INT8, int8Model.spec, { threads: 2 })
  let lossF = 0
  let lossQ = 0
  let positions = 0
  let agree = 0
  let whole = 0
  let compared = 0
  const t0 = performance.now()
  for (let w = 0; w < windows; w++) {
    const win = held.slice(w * CTX, w * CTX + CTX + 1)
    const input = win.slice(0, CTX)
    const targets = win.slice(1)
    const a = crossEntropy(await f.score(input, 0), spec.vocab, targets)
    const b = crossEntropy(await q.score(input, 0), spec.vocab, targets)
    lossF += a.sum
    lossQ += b.sum
    positions += targets.length
    for (let i = 0; i < targets.length; i++) if (a.top[i] === b.top[i]) agree++
    if (w < CONTINUATIONS) {
      const prompt = input.slice(0, PROMPT_TOKENS)
      const gf = await greedy(f, prompt, GREEDY_TOKENS)
      const gq = await greedy(q, prompt, GREEDY_TOKENS)
      compared++
      if (gf.every((t, i) => t === gq[i])) whole++
    }
  }
  const seconds = (performance.now() - t0) / 1000
  await f.close()
  await q.close()
  const meanF = lossF / positions
  const meanQ = lossQ / positions
  print(`int8 quality: ${INT8} against ${FLOAT}`)
  print(`held-out text: ${CORPUS}, chapters with index % 20 == 10 (${positions} scored positions)`)
  print(
    table([
      ['measure', 'float', 'int8', 'int8 / float'],
      ['held-out loss (nats/token)', num(meanF, 4), num(meanQ, 4), num(meanQ / meanF, 4)],
      ['perplexity', num(Math.exp(meanF), 2), num(Math.exp(meanQ), 2), num(Math.exp(meanQ - meanF), 4)],
    ]),
  )
  print(
    `argmax agreement, teacher-forced: ${agree} of ${positions} positions (${num((100 * agree) / positions, 2)}%)`,
  )
  print(
    `greedy continuations (${PROMPT_TOKENS}-token prompt, ${GREEDY_TOKENS} new tokens) identical: ` +
      `${whole} of ${compared} (${num((100 * whole) / compared, 1)}%)`,
  )
  print(
    `loss rise ${num((100 * (meanQ - meanF)) / meanF, 2)}% (the SKU ships below 5%: ` +
      `${meanQ / meanF < 1.05 ? 'ship' : 'do not ship'}); ${num(seconds, 1)} s`,
  )
}

await main()
