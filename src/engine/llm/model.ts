import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { Tokenizer } from '@huggingface/tokenizers'
import { Template } from '@huggingface/jinja'
import { EngineError } from './errors.js'
import { loadManifest, type Manifest } from './manifest.js'
import { maxCharsPerToken } from './tokenBound.js'

/** The shape of a decoder's KV cache and context, read from the export's `config.json`. */
export interface DecoderSpec {
  family: 'gpt2' | 'llama'
  layers: number
  /** Heads in the KV cache (fewer than the query heads under grouped-query attention). */
  kvHeads: number
  headDim: number
  vocab: number
  /** Positions the model accepts: prompt plus output never goes past this. */
  contextLength: number
  /** Token ids that end generation. */
  eos: number[]
}

export interface ChatMessage {
  role: string
  content: string
}

type Json = Record<string, unknown>

/** Messages one chat may hold, and the longest role name. */
export const MAX_CHAT_MESSAGES = 256
export const MAX_ROLE_CHARS = 64

const int = (o: Json, key: string, file: string): number => {
  const v = o[key]
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
    throw new EngineError('MODEL_INVALID', `${file}: ${key} must be a positive integer`)
  return v
}

const ids = (v: unknown): number[] =>
  (Array.isArray(v) ? v : [v]).filter((x): x is number => typeof x === 'number' && Number.isInteger(x))

/**
 * Read the decoder's shape from a Hugging Face `config.json`: GPT-2 style (`n_layer`, `n_head`,
 * `n_embd`, `n_positions`) or Llama/Qwen/Mistral style (`num_hidden_layers`, `num_attention_heads`,
 * `num_key_value_heads`, `hidden_size`, `head_dim`, `max_position_embeddings`).
 */
export function decoderSpec(
  config: Json,
  generation: Json,
  manifest: Manifest,
  file = 'config.json',
): DecoderSpec {
  const type = String(config.model_type ?? '')
  let spec: Omit<DecoderSpec, 'eos' | 'contextLength'> & { positions: number }
  if (type === 'gpt2') {
    const heads = int(config, 'n_head', file)
    spec = {
      family: 'gpt2',
      layers: int(config, 'n_layer', file),
      kvHeads: heads,
      headDim: int(config, 'n_embd', file) / heads,
      vocab: int(config, 'vocab_size', file),
      positions: int(config, 'n_positions', file),
    }
  } else if (['llama', 'qwen2', 'qwen3', 'mistral'].includes(type)) {
    const heads = int(config, 'num_attention_heads', file)
    spec = {
      family: 'llama',
      layers: int(config, 'num_hidden_layers', file),
      kvHeads: config.num_key_value_heads === undefined ? heads : int(config, 'num_key_value_heads', file),
      headDim:
        config.head_dim === undefined
          ? int(config, 'hidden_size', file) / heads
          : int(config, 'head_dim', file),
      vocab: int(config, 'vocab_size', file),
      positions: int(config, 'max_position_embeddings', file),
    }
  } else {
    throw new EngineError(
      'MODEL_INVALID',
      `${file}: model_type ${JSON.stringify(type)} is not a supported decoder`,
    )
  }
  if (!Number.isInteger(spec.headDim))
    throw new EngineError('MODEL_INVALID', `${file}: width not divisible by heads`)
  const eos = [...new Set([...ids(generation.eos_token_id), ...ids(config.eos_token_id)])]
  const { positions, ...rest } = spec
  return { ...rest, contextLength: Math.min(positions, manifest.contextLength), eos }
}

async function readJson(dir: string, name: string, required: boolean): Promise<Json> {
  try {
    const v: unknown = JSON.parse(await readFile(path.join(dir, name), 'utf8'))
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object')
    return v as Json
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw new EngineError('MODEL_INVALID', `${path.join(dir, name)}: ${(err as Error).message}`)
  }
}

/**
 * A pinned model folder with its tokenizer and chat template: what both the gateway (to check and
 * count a prompt) and the engine (to generate) need. The ONNX graph itself is opened by the engine.
 */
export class TextModel {
  private constructor(
    readonly id: string,
    readonly dir: string,
    readonly manifest: Manifest,
    readonly spec: DecoderSpec,
    private readonly tokenizer: Tokenizer,
    private readonly template: Template | null,
    private readonly specialTokens: Record<string, string>,
    /** The most characters one token stands for (Infinity: no bound); see `maxCharsPerToken`. */
    readonly maxCharsPerToken: number,
  ) {}

  /** Load `dir`, refusing it when any file differs from its manifest. */
  static async load(dir: string): Promise<TextModel> {
    const pinned = await loadManifest(dir)
    const config = await readJson(dir, 'config.json', true)
    const generation = await readJson(dir, 'generation_config.json', false)
    const tokConfig = await readJson(dir, 'tokenizer_config.json', false)
    const tokJson = await readJson(dir, 'tokenizer.json', true)
    let tokenizer: Tokenizer
    try {
      tokenizer = new Tokenizer(tokJson, tokConfig)
    } catch (err) {
      throw new EngineError('MODEL_INVALID', `${dir}/tokenizer.json: ${(err as Error).message}`)
    }
    const spec = decoderSpec(config, generation, pinned.manifest)
    const source = typeof tokConfig.chat_template === 'string' ? tokConfig.chat_template : null
    let template: Template | null = null
    if (source !== null) {
      try {
        template = new Template(source)
      } catch (err) {
        throw new EngineError('MODEL_INVALID', `${dir}: chat_template: ${(err as Error).message}`)
      }
    }
    const specials: Record<string, string> = {}
    for (const k of ['bos_token', 'eos_token', 'unk_token', 'pad_token']) {
      const v = tokConfig[k]
      if (typeof v === 'string') specials[k] = v
    }
    return new TextModel(
      pinned.id,
      dir,
      pinned.manifest,
      spec,
      tokenizer,
      template,
      specials,
      maxCharsPerToken(tokJson),
    )
  }

  get name(): string {
    return this.manifest.name
  }

  /**
   * Fewest tokens `text` can have, known without tokenizing it (0 when the tokenizer has no
   * bound): what a node checks before it spends time on a prompt.
   */
  minTokens(text: string): number {
    return Number.isFinite(this.maxCharsPerToken) ? Math.ceil(text.length / this.maxCharsPerToken) : 0
  }

  /** Longest prompt, in characters, that can still fit the context with room for one token. */
  get maxPromptChars(): number {
    return (this.spec.contextLength - 1) * this.maxCharsPerToken
  }

  /**
   * Token ids of `text`. Synchronous and linear in the text (about a second for 256 Ki CJK
   * characters): request paths tokenize in a TokenizerPool's worker instead.
   */
  encode(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids
  }

  decode(tokenIds: readonly number[]): string {
    return this.tokenizer.decode([...tokenIds], { skip_special_tokens: true })
  }

  /**
   * The prompt text for a chat, through the model's template, ending where the assistant speaks.
   * Bounded before rendering: at most MAX_CHAT_MESSAGES messages (BAD_PARAMS) whose contents
   * together are at most `maxChars` characters (CONTEXT_OVERFLOW; default: what fits the context).
   */
  renderChat(messages: readonly ChatMessage[], maxChars = this.maxPromptChars): string {
    if (messages.length > MAX_CHAT_MESSAGES)
      throw new EngineError('BAD_PARAMS', `a chat holds at most ${MAX_CHAT_MESSAGES} messages`)
    let chars = 0
    for (const m of messages) {
      if (m.role.length > MAX_ROLE_CHARS)
        throw new EngineError('BAD_PARAMS', `a role name is at most ${MAX_ROLE_CHARS} characters`)
      chars += m.content.length
    }
    if (chars > maxChars)
      throw new EngineError(
        'CONTEXT_OVERFLOW',
        `the messages hold ${chars} characters; at most ${maxChars} can fit the context`,
      )
    if (this.template === null) {
      // No template: plain "role: content" lines, then "assistant:".
      return messages.map((m) => `${m.role}: ${m.content}\n`).join('') + 'assistant:'
    }
    try {
      return this.template.render({ messages, add_generation_prompt: true, ...this.specialTokens })
    } catch (err) {
      throw new EngineError('BAD_PARAMS', `chat template: ${(err as Error).message}`)
    }
  }
}
