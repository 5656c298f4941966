// The tokenizer worker thread: holds each model's tokenizer and turns prompts into token ids for
// the TokenizerPool on the main thread, one at a time, so that a long prompt (about a second for
// 256 Ki CJK characters) never holds up the daemon's event loop, and with it consensus.
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { parentPort, workerData } from 'node:worker_threads'
import { Tokenizer } from '@huggingface/tokenizers'
import { sha256Hex } from './manifest.js'

export interface TokenizerWorkerData {
  /** Each model's id, folder and manifest file hashes (the files were checked on the main thread). */
  models: Array<{ id: string; dir: string; files: Record<string, string> }>
}

export type TokenizerWorkerRequest = { kind: 'encode'; job: number; model: string; text: string }

export type TokenizerWorkerReply =
  | { kind: 'loaded' }
  | { kind: 'loadFailed'; message: string }
  | { kind: 'encoded'; job: number; ids: Uint32Array }
  | { kind: 'failed'; job: number; message: string }

const port = parentPort
if (port === null) throw new Error('tokenizer worker: not in a worker thread')
const post = (m: TokenizerWorkerReply, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer)

const tokenizers = new Map<string, Tokenizer>()

/** A JSON file of the model, checked against the manifest's hash when the manifest lists it. */
async function pinnedJson(
  dir: string,
  name: string,
  files: Record<string, string>,
  required: boolean,
): Promise<Record<string, unknown>> {
  let bytes: Buffer
  try {
    bytes = await readFile(path.join(dir, name))
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw err
  }
  const expected = files[name]
  if (expected !== undefined && sha256Hex(bytes) !== expected)
    throw new Error(`${path.join(dir, name)}: SHA-256 differs from the manifest's`)
  return JSON.parse(bytes.toString('utf8')) as Record<string, unknown>
}

async function load(data: TokenizerWorkerData): Promise<void> {
  for (const m of data.models) {
    const json = await pinnedJson(m.dir, 'tokenizer.json', m.files, true)
    const config = await pinnedJson(m.dir, 'tokenizer_config.json', m.files, false)
    tokenizers.set(m.id, new Tokenizer(json, config))
  }
}

load(workerData as TokenizerWorkerData).then(
  () => post({ kind: 'loaded' }),
  (err: unknown) => post({ kind: 'loadFailed', message: (err as Error).message }),
)

port.on('message', (m: TokenizerWorkerRequest) => {
  if (m.kind !== 'encode') return
  try {
    const tokenizer = tokenizers.get(m.model)
    if (tokenizer === undefined) throw new Error(`no tokenizer for ${m.model}`)
    // Same call as TextModel.encode, so both give the same ids.
    const ids = Uint32Array.from(tokenizer.encode(m.text, { add_special_tokens: false }).ids)
    post({ kind: 'encoded', job: m.job, ids }, [ids.buffer as ArrayBuffer])
  } catch (err) {
    post({ kind: 'failed', job: m.job, message: (err as Error).message })
  }
})
