import type { Options } from 'yargs'

/** Generation flags shared by `cordex prompt` and `cordex chat`. */
export interface SamplingArgs {
  model?: string
  maxTokens?: number
  temperature: number
  topK: number
  topP: number
  repetitionPenalty: number
  maxCost?: string
}

export const samplingOptions: Record<string, Options> = {
  model: { type: 'string', description: 'Model name or id (default: the first that GET /v1/models lists)' },
  'max-tokens': { type: 'number', description: 'Tokens to generate at most' },
  temperature: { type: 'number', default: 0.8, description: '0 for greedy decoding' },
  'top-k': { type: 'number', default: 40, description: 'Sample among the k most likely tokens (0: all)' },
  'top-p': { type: 'number', default: 1, description: 'Nucleus sampling threshold' },
  'repetition-penalty': {
    type: 'number',
    default: 1.2,
    description: 'Penalty on tokens already seen (1: off)',
  },
  'max-cost': { type: 'string', description: 'Escrow for the task in base units (default: the daemon’s)' },
}

/** The request fields for these flags (OpenAI names, plus Cordex's extensions). */
export function requestFields(a: SamplingArgs, model: string): Record<string, unknown> {
  return {
    model,
    temperature: a.temperature,
    top_k: a.topK,
    top_p: a.topP,
    repetition_penalty: a.repetitionPenalty,
    ...(a.maxTokens !== undefined ? { max_tokens: a.maxTokens } : {}),
    ...(a.maxCost !== undefined ? { max_cost: a.maxCost } : {}),
  }
}
