// Checks the exported models in Node against PyTorch, and measures them.
//
// For each model in the expected-greedy file (written by expected.py):
//  - every file's SHA-256 equals manifest.json, and model.onnx is the one the ids belong to;
//  - the chat template, rendered by @huggingface/jinja, equals Python's text, and
//    @huggingface/tokenizers encodes both prompts to Python's ids;
//  - a greedy loop with the key/value cache in onnxruntime-node (prefill the prompt
//    with an empty past, then one token per step) gives exactly PyTorch's 32 ids,
//    for the plain prompt and for the chat prompt;
//  - both prompts in one batch, the shorter one left-padded (attention_mask 0,
//    positions counted from its first real token), give the same ids again;
//  - load time, prefill speed (a 128-token prompt) and decode speed (128 steps).
//
//   node scripts/model/check-onnx.mjs [EXPECTED_JSON]   (default test/fixtures/models/expected-greedy.json)
//   THREADS=2 by default.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Template } from '@huggingface/jinja'
import { Tokenizer } from '@huggingface/tokenizers'
import ort from 'onnxruntime-node'

const expectedPath = process.argv[2] ?? 'test/fixtures/models/expected-greedy.json'
const expected = JSON.parse(readFileSync(expectedPath, 'utf8'))
const threads = Number(process.env.THREADS ?? 2)
const BENCH_TEXT =
  'In the beginning God created the heaven and the earth. And the earth was without form, and void; and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters. And God said, Let there be light: and there was light. And God saw the light, that it was good: and God divided the light from the darkness. And God called the light Day, and the darkness he called Night. And the evening and the morning were the first day. And God said, Let there be a firmament in the midst of the waters, and let it divide the waters from the waters.'

const sha256 = (p) => createHash('sha256').update(readFileSync(p)).digest('hex')
const i64 = (rows) =>
  new ort.Tensor('int64', BigInt64Array.from(rows.flat(), BigInt), [rows.length, rows[0].length])
let failures = 0
const check = (ok, what) => {
  if (!ok) failures++
  console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${what}`)
}

class Decoder {
  constructor(session, config) {
    this.session = session
    this.layers = config.n_layer ?? config.num_hidden_layers
    this.kvHeads = config.num_key_value_heads ?? config.n_head ?? config.num_attention_heads
    const heads = config.n_head ?? config.num_attention_heads
    this.headDim = config.head_dim ?? (config.n_embd ?? config.hidden_size) / heads
  }

  // One forward pass: ids [B][T], mask [B][past+T], positions [B][T]; returns last-position logits per row.
  async step(ids, mask, positions, past) {
    const B = ids.length
    const feeds = { input_ids: i64(ids), attention_mask: i64(mask), position_ids: i64(positions) }
    for (let i = 0; i < this.layers; i++) {
      for (const kv of ['key', 'value']) {
        feeds[`past_key_values.${i}.${kv}`] =
          past?.[`present.${i}.${kv}`] ??
          new ort.Tensor('float32', new Float32Array(0), [B, this.kvHeads, 0, this.headDim])
      }
    }
    const out = await this.session.run(feeds)
    const [, T, V] = out.logits.dims
    const last = []
    for (let b = 0; b < B; b++) last.push(out.logits.data.subarray((b * T + T - 1) * V, (b * T + T) * V))
    return { last, past: out }
  }

  // Greedy decoding of n tokens for each prompt; shorter prompts are left-padded.
  async greedy(prompts, n, timing) {
    const len = Math.max(...prompts.map((p) => p.length))
    let mask = prompts.map((p) => [...Array(len - p.length).fill(0), ...Array(p.length).fill(1)])
    const ids = prompts.map((p) => [...Array(len - p.length).fill(0), ...p])
    const positions = prompts.map((p) => [...Array(len - p.length).fill(0), ...p.map((_, j) => j)])
    const next = prompts.map((p) => p.length)
    const outs = prompts.map(() => [])
    let t0 = performance.now()
    let r = await this.step(ids, mask, positions, null)
    if (timing) timing.prefillMs = performance.now() - t0
    t0 = performance.now()
    for (let s = 0; ; s++) {
      const tokens = r.last.map(argmax)
      tokens.forEach((t, b) => outs[b].push(t))
      if (s + 1 === n) break
      mask = mask.map((m) => [...m, 1])
      r = await this.step(
        tokens.map((t) => [t]),
        mask,
        next.map((p) => [p + s]),
        r.past,
      )
    }
    if (timing) timing.decodeMs = performance.now() - t0
    return outs
  }
}

function argmax(a) {
  let best = 0
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i
  return best
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const summary = []
for (const [name, m] of Object.entries(expected.models)) {
  console.log(`${name} (${m.dir})`)
  const manifest = JSON.parse(readFileSync(join(m.dir, 'manifest.json'), 'utf8'))
  const bad = Object.entries(manifest.files).filter(([f, h]) => sha256(join(m.dir, f)) !== h)
  check(
    bad.length === 0,
    `manifest SHA-256 of ${Object.keys(manifest.files).length} files${bad.length ? ` (bad: ${bad.map((b) => b[0])})` : ''}`,
  )
  check(manifest.files['model.onnx'] === m.modelSha256, 'model.onnx is the one the expected ids came from')

  const config = JSON.parse(readFileSync(join(m.dir, 'config.json'), 'utf8'))
  const tokConfig = JSON.parse(readFileSync(join(m.dir, manifest.chatTemplate), 'utf8'))
  const tok = new Tokenizer(JSON.parse(readFileSync(join(m.dir, 'tokenizer.json'), 'utf8')), tokConfig)
  const chatText = new Template(tokConfig.chat_template).render({
    messages: expected.chat.messages,
    add_generation_prompt: true,
  })
  check(chatText === expected.chat.text, 'chat template renders as in Python')
  const promptIds = tok.encode(expected.prompt, { add_special_tokens: false }).ids
  const chatIds = tok.encode(chatText, { add_special_tokens: false }).ids
  check(JSON.stringify(promptIds) === JSON.stringify(expected.promptIds), 'prompt ids as in Python')
  check(JSON.stringify(chatIds) === JSON.stringify(expected.chat.promptIds), 'chat prompt ids as in Python')

  const opts = { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' }
  let t0 = performance.now()
  const session = await ort.InferenceSession.create(join(m.dir, 'model.onnx'), opts)
  const loadMs = performance.now() - t0
  const dec = new Decoder(session, config)
  const n = expected.newTokens
  const [g1] = await dec.greedy([promptIds], n)
  const [g2] = await dec.greedy([chatIds], n)
  check(
    JSON.stringify(g1) === JSON.stringify(m.greedyIds),
    `greedy ids with KV cache = PyTorch (plain): ${JSON.stringify(tok.decode(g1))}`,
  )
  check(
    JSON.stringify(g2) === JSON.stringify(m.chatGreedyIds),
    `greedy ids with KV cache = PyTorch (chat): ${JSON.stringify(tok.decode(g2))}`,
  )
  const [b1, b2] = await dec.greedy([promptIds, chatIds], n)
  check(
    JSON.stringify([b1, b2]) === JSON.stringify([m.greedyIds, m.chatGreedyIds]),
    'batch of 2 with left padding gives the same ids',
  )

  const benchIds = tok.encode(BENCH_TEXT, { add_special_tokens: false }).ids.slice(0, 128)
  const runs = []
  for (let i = 0; i < 3; i++) {
    const t = {}
    await dec.greedy([benchIds], 128, t)
    runs.push(t)
  }
  const prefill = benchIds.length / (median(runs.map((r) => r.prefillMs)) / 1000)
  const decode = 127 / (median(runs.map((r) => r.decodeMs)) / 1000)
  const line = `${name}: load ${loadMs.toFixed(0)} ms, prefill ${prefill.toFixed(0)} tokens/s (${benchIds.length} tokens), decode ${decode.toFixed(0)} tokens/s (${threads} threads)`
  console.log(`  ${line}`)
  summary.push(line)
  await session.release()
}
console.log(`\n${summary.join('\n')}\n${failures ? `${failures} FAILED` : 'all checks passed'}`)
process.exit(failures ? 1 : 0)
