import { randomBytes } from 'node:crypto'
import { GREEDY, type Engine } from '../../engine/index.js'
import type { Random } from './plan.js'
import type { PromptWriter } from './service.js'

/** First words of synthetic prompts; the model writes the rest. */
const OPENINGS = [
  'The',
  'And',
  'In the',
  'What is',
  'Tell me about',
  'Write a',
  'How do I',
  'Why does',
  'Explain',
  'Now',
  'Then',
  'Please',
]

/**
 * Prompts written by the engine itself: a common opening continued at temperature 1 with a secret
 * seed to about `tokens` tokens (an end of sequence may end it sooner). The text reads like what
 * the model was trained on, not like what people ask; docs/economics.md says what a host could
 * still tell from it.
 */
export function enginePromptWriter(engine: Engine, random: Random): PromptWriter {
  return async (modelId, tokens, signal) => {
    const model = engine.model(modelId)
    if (model === undefined) throw new Error(`no model ${modelId} here to write a prompt with`)
    const opening = OPENINGS[Math.floor(random() * OPENINGS.length)]!
    const ids = model.encode(opening)
    const need = Math.min(tokens, model.spec.contextLength - 1) - ids.length
    if (need < 1) return opening
    const r = await engine.generate(
      modelId,
      {
        promptIds: ids,
        maxTokens: need,
        sampling: { ...GREEDY, temperature: 1 },
        seed: new Uint8Array(randomBytes(32)),
        stop: [],
      },
      () => {},
      signal,
    )
    return opening + r.text
  }
}
