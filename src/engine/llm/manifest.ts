import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { z } from 'zod'
import { EngineError } from './errors.js'
import { externalDataLocations } from './externalData.js'

/** A file of a model folder: a plain name beside manifest.json, no path. */
const FILE_NAME = /^[A-Za-z0-9._-]+$/

/**
 * A model's manifest (SPEC 5.1): its name, architecture, every file with its SHA-256, and what a
 * token costs. The model id is `<name>@<first 16 hex digits of the manifest's SHA-256>`, so two
 * folders share an id only when they hold the same files.
 */
export const manifestSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, dot, dash, underscore; 1 to 64'),
    architecture: z.string().min(1).max(64),
    contextLength: z
      .number()
      .int()
      .min(2)
      .max(1 << 20),
    quantization: z.string().max(32),
    /** Units of compute per token, the factor in a task's fee (SPEC 7). */
    unitsPerToken: z.number().int().min(1).max(1e12),
    /** The file with the Jinja chat template (`tokenizer_config.json`'s `chat_template`). */
    chatTemplate: z.string().optional(),
    files: z.record(z.string().regex(FILE_NAME), z.string().regex(/^[0-9a-f]{64}$/)),
  })
  .loose()

export type Manifest = z.infer<typeof manifestSchema>

export interface PinnedModel {
  id: string
  dir: string
  manifest: Manifest
}

const REQUIRED = ['model.onnx', 'tokenizer.json', 'config.json']
const MAX_MANIFEST_BYTES = 64 * 1024

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** SHA-256 of a file, streamed: weight files may be far larger than one Buffer (2 GiB). */
async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/**
 * Read `dir/manifest.json` and check every file it lists against its SHA-256 (model pinning),
 * and that it lists every file model.onnx reads (its external data: `model.onnx_data` and the
 * like), so that no weight escapes the model id. Throws EngineError MODEL_INVALID or
 * MODEL_HASH_MISMATCH naming the file.
 */
export async function loadManifest(dir: string): Promise<PinnedModel> {
  const file = path.join(dir, 'manifest.json')
  let raw: Buffer
  try {
    raw = await readFile(file)
  } catch (err) {
    throw new EngineError('MODEL_INVALID', `${file}: ${(err as Error).message}`)
  }
  if (raw.length > MAX_MANIFEST_BYTES) throw new EngineError('MODEL_INVALID', `${file}: over 64 KiB`)
  let parsed: Manifest
  try {
    parsed = manifestSchema.parse(JSON.parse(raw.toString('utf8')))
  } catch (err) {
    throw new EngineError('MODEL_INVALID', `${file}: ${(err as Error).message}`)
  }
  for (const name of REQUIRED) {
    if (parsed.files[name] === undefined)
      throw new EngineError('MODEL_INVALID', `${file}: files lacks ${name}`)
  }
  let graph: Buffer | undefined
  for (const [name, expected] of Object.entries(parsed.files)) {
    let actual: string
    try {
      // model.onnx is read whole (a protobuf is at most 2 GB) to find its external data below.
      if (name === 'model.onnx') {
        graph = await readFile(path.join(dir, name))
        actual = sha256Hex(graph)
      } else {
        actual = await sha256File(path.join(dir, name))
      }
    } catch (err) {
      throw new EngineError('MODEL_INVALID', `${dir}: ${name}: ${(err as Error).message}`)
    }
    if (actual !== expected) {
      throw new EngineError(
        'MODEL_HASH_MISMATCH',
        `${path.join(dir, name)}: SHA-256 ${actual} differs from the manifest's ${expected}`,
        { file: name },
      )
    }
  }
  // SPEC 5.1 (pinning): the hashes cover every byte onnxruntime reads, external data included.
  for (const location of externalDataLocations(graph!, path.join(dir, 'model.onnx'))) {
    if (!FILE_NAME.test(location) || location === '.' || location === '..') {
      throw new EngineError(
        'MODEL_INVALID',
        `${dir}/model.onnx keeps tensors in ${JSON.stringify(location)}: external data must be a file ` +
          'beside model.onnx, named in manifest.json',
      )
    }
    if (parsed.files[location] === undefined) {
      throw new EngineError(
        'MODEL_INVALID',
        `${dir}/model.onnx keeps tensors in ${location}, which manifest.json does not list: ` +
          'add its SHA-256 to "files", or a host could change those weights under the same model id',
        { file: location },
      )
    }
  }
  return { id: `${parsed.name}@${sha256Hex(raw).slice(0, 16)}`, dir, manifest: parsed }
}
