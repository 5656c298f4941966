// `npm run bench:verify -- audit`: what auditing an int8 task costs on the real kjv-small-int8,
// against the task's own work, same engine, same run, median of BENCH_RUNS (default 5) runs per
// shape (prompt → output tokens). Printed, never asserted.
//  - inference: Engine.generate without the audit (what a host does for a task on the float path);
//  - commit: Engine.generate asked to audit, less the plain one (fetching the audit outputs each
//    step, copying them out, hashing every row, building the tree);
//  - open: the executor's openTrace of the challenge's rows (tree rebuilt from the kept leaves);
//  - check: the verifier's Engine.audit (Freivalds on every opened row, k = 2; the float glue;
//    the tokens through the replay rule), with the challenge's derivation;
//  - products: the task's int8 GEMMs alone, all 17 products over its T rows, one MatMulInteger each
//    (what the commitment is about);
//  - replay: the float path's check of the same task, Engine.replay on the same model.
import { join } from 'node:path'
import {
  auditProducts,
  DEFAULT_REPLAY_EPSILON,
  Engine,
  GREEDY,
  type AuditProduct,
  type GenerationRequest,
} from '../src/engine/index.js'
import { deriveChallenge, FREIVALDS_DEFAULTS, openTrace, PrimeField } from '../src/verify/freivalds/index.js'
import ort from 'onnxruntime-node'
import { ROOT } from './lib/daemons.js'
import { ortGemm } from './freivalds.js'
import { print, progress, table, ms } from './lib/report.js'
import { summarize } from './lib/stats.js'

const RUNS = Number(process.env.BENCH_RUNS ?? 5)
const INT8 = join(ROOT, 'models', 'kjv-small-int8')
const TEXT =
  'And the LORD spake unto Moses, saying, Speak unto the children of Israel, and say unto them, When ' +
  'any man of you bring an offering unto the LORD, ye shall bring your offering of the cattle, even of ' +
  'the herd, and of the flock. If his offering be a burnt sacrifice of the herd, let him offer a male'

const median = (xs: number[]): number => summarize(xs).p50

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now()
  const v = await f()
  return [v, performance.now() - t0]
}

export async function int8AuditBench(): Promise<void> {
  const engine = await Engine.start({ models: [INT8], maxActive: 1, maxQueue: 4, threads: 2 })
  const model = engine.models()[0]!
  const products = auditProducts(model.manifest, model.spec.layers)!
  const field = new PrimeField(FREIVALDS_DEFAULTS.p)
  const ids = model.encode(TEXT)
  const rows: string[][] = [
    [
      'prompt→output',
      'T',
      'inference',
      'commit',
      'open',
      'check',
      'products',
      'replay',
      'audit/products',
      'audit/inference',
      'check/replay',
    ],
  ]
  try {
    for (const [p, n] of [
      [8, 32],
      [32, 64],
      [32, 200],
    ] as const) {
      progress(`kjv-small-int8 ${p}→${n}`)
      const req: GenerationRequest = {
        promptIds: ids.slice(0, p),
        sampling: GREEDY,
        seed: new Uint8Array(32),
        maxTokens: n,
        stop: [],
      }
      const s = {
        gen: [] as number[],
        commit: [] as number[],
        open: [] as number[],
        check: [] as number[],
        gemm: [] as number[],
        replay: [] as number[],
      }
      let T = 0
      for (let run = 0; run < RUNS; run++) {
        const [plain, gen] = await timed(() => engine.generate(model.id, req, () => {}))
        const [audited, withAudit] = await timed(() =>
          engine.generate(model.id, { ...req, audit: true }, () => {}),
        )
        const trace = audited.audit!
        T = p + audited.tokens.length - 1
        const shapes = products.map((x) => ({ ...x, rows: T }))
        const [openings, open] = await timed(async () => {
          const challenge = deriveChallenge(
            new Uint8Array(32).fill(run + 1),
            trace.root,
            shapes,
            {
              products: shapes.length,
              rows: FREIVALDS_DEFAULTS.rows,
              rounds: FREIVALDS_DEFAULTS.rounds,
              shareRows: true,
            },
            field,
          )
          return {
            challenge,
            openings: openTrace(
              trace,
              challenge.map((c) => ({ product: c.product, rows: c.rows })),
            ),
          }
        })
        const [verdict, check] = await timed(() =>
          engine.audit(model.id, {
            root: trace.root,
            rows: T,
            p: field.p,
            ...openings,
            replay: { ...req, tokens: audited.tokens },
            eps: DEFAULT_REPLAY_EPSILON,
          }),
        )
        if (!verdict.ok) throw new Error(`an honest audit failed: ${JSON.stringify(verdict)}`)
        const [, replay] = await timed(() => engine.replay(model.id, { ...req, tokens: plain.tokens }))
        s.gen.push(gen)
        s.commit.push(Math.max(0, withAudit - gen))
        s.open.push(open)
        s.check.push(check)
        s.replay.push(replay)
        s.gemm.push(await gemms(products, T))
      }
      const audit = median(s.commit) + median(s.open) + median(s.check)
      const pct = (x: number): string => `${(100 * x).toFixed(1)}%`
      rows.push([
        `${p}→${n}`,
        String(T),
        ms(median(s.gen)),
        ms(median(s.commit)),
        ms(median(s.open)),
        ms(median(s.check)),
        ms(median(s.gemm)),
        ms(median(s.replay)),
        pct(audit / median(s.gemm)),
        pct(audit / median(s.gen)),
        pct(median(s.check) / median(s.replay)),
      ])
    }
  } finally {
    await engine.stop()
  }
  print(`int8 audit of a kjv-small-int8 task (2 threads, median of ${RUNS}; audit = commit + open + check)`)
  print(table(rows))
}

/** The task's integer products alone: each of them over T rows, one MatMulInteger run each, summed. */
async function gemms(products: readonly AuditProduct[], T: number): Promise<number> {
  let total = 0
  for (const x of products) {
    const session = await ortGemm(T, x.inner, x.cols)
    const feeds = {
      X: new ort.Tensor('int8', new Int8Array(T * x.inner).fill(3), [T, x.inner]),
      W: new ort.Tensor('int8', new Int8Array(x.inner * x.cols).fill(-2), [x.inner, x.cols]),
    }
    await session.run(feeds) // warm
    const [, t] = await timed(() => session.run(feeds))
    total += t
    await session.release()
  }
  return total
}
