import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { z } from 'zod'
import { EngineError } from './errors.js'

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
    files: z.record(z.string().regex(/^[A-Za-z0-9._-]+$/), z.string().regex(/^[0-9a-f]{64}$/)),
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

/**
 * Read `dir/manifest.json` and check every file it lists against its SHA-256 (model pinning).
 * Throws EngineError MODEL_INVALID or MODEL_HASH_MISMATCH naming the file.
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
  for (const [name, expected] of Object.entries(parsed.files)) {
    let bytes: Buffer
    try {
      bytes = await readFile(path.join(dir, name))
    } catch (err) {
      throw new EngineError('MODEL_INVALID', `${dir}: ${name}: ${(err as Error).message}`)
    }
    const actual = sha256Hex(bytes)
    if (actual !== expected) {
      throw new EngineError(
        'MODEL_HASH_MISMATCH',
        `${path.join(dir, name)}: SHA-256 ${actual} differs from the manifest's ${expected}`,
        { file: name },
      )
    }
  }
  return { id: `${parsed.name}@${sha256Hex(raw).slice(0, 16)}`, dir, manifest: parsed }
}
