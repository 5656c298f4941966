// Checks that @huggingface/tokenizers, reading our tokenizer.json, gives exactly
// the ids that scripts/model/tokenizer.py gives, on corpus lines, multi-line
// chunks, chat-formatted text with special tokens, and a few awkward strings.
// Also checks that decoding gives the text back.
//
//   node scripts/model/check-tokenizer.mjs [TOKENIZER_JSON] [CORPUS] [LINES]
//   defaults: models/kjv-small/tokenizer.json build/model/kjv.txt 4000
//   PYTHON (default /usr/bin/python3) runs tokenizer.py.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Tokenizer } from '@huggingface/tokenizers'

const here = dirname(fileURLToPath(import.meta.url))
const [
  tokPath = 'models/kjv-small/tokenizer.json',
  corpus = `${process.env.MODEL_BUILD ?? 'build/model'}/kjv.txt`,
  nLines = '4000',
] = process.argv.slice(2)

const lines = readFileSync(corpus, 'utf8').split('\n')
const step = Math.max(1, Math.floor(lines.length / Number(nLines)))
const texts = []
for (let i = 0; i < lines.length && texts.length < Number(nLines); i += step) texts.push(lines[i])
for (let i = 0; i + 40 < lines.length; i += 997) texts.push(lines.slice(i, i + 40).join('\n'))
texts.push(
  '<|user|>\nWho begat Enoch?<|endoftext|>\n<|assistant|>\nAnd Cain knew his wife.<|endoftext|>\n',
  '<|system|>\nBe brief.<|endoftext|>\n<|user|>\nHi<|endoftext|>\n<|assistant|>\n',
  "  leading spaces, trailing spaces   \n\n\ttabs\tand\r\nCRLF; it's they'll we've I'd 3,000 1611 A.D.",
  'Unicode: café naïve Ωμέγα 日本語 emoji 🙂 — “quotes” ‘single’',
  '<|endoftext|><|endoftext|>x<|user|',
  '',
  ' ',
  '\n\n\n',
  "don't DON'T 's 'S",
)

const python = process.env.PYTHON ?? '/usr/bin/python3'
const pyIds = JSON.parse(
  execFileSync(python, [join(here, 'tokenizer.py'), 'encode', '--tokenizer', tokPath], {
    input: JSON.stringify(texts),
    maxBuffer: 1 << 28,
  }).toString(),
)

const tok = new Tokenizer(JSON.parse(readFileSync(tokPath, 'utf8')), {})
let bad = 0
let tokens = 0
const t0 = performance.now()
for (let i = 0; i < texts.length; i++) {
  const ids = tok.encode(texts[i], { add_special_tokens: false }).ids
  tokens += ids.length
  if (JSON.stringify(ids) !== JSON.stringify(pyIds[i])) {
    if (bad++ < 5)
      console.error(
        'MISMATCH',
        JSON.stringify(texts[i]).slice(0, 120),
        '\n js',
        ids.slice(0, 30),
        '\n py',
        pyIds[i].slice(0, 30),
      )
  }
  const back = ids.length
    ? tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false })
    : ''
  if (back !== texts[i]) {
    if (bad++ < 5)
      console.error(
        'DECODE MISMATCH',
        JSON.stringify(texts[i]).slice(0, 80),
        JSON.stringify(back).slice(0, 80),
      )
  }
}
const ms = performance.now() - t0
console.log(
  `${texts.length} texts, ${tokens} tokens, ${bad} mismatches; JS encode+decode ${((tokens / ms) * 1000).toFixed(0)} tokens/s`,
)
process.exit(bad ? 1 : 0)
