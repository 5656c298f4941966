type Json = Record<string, unknown>

const obj = (v: unknown): Json | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined

/** Normalizers that never shorten text: each input character stays at least one character. */
function keepsLength(n: unknown): boolean {
  const o = obj(n)
  if (o === undefined) return n === null || n === undefined
  switch (o.type) {
    case 'Sequence':
      return Array.isArray(o.normalizers) && o.normalizers.every(keepsLength)
    case 'Prepend':
    case 'Lowercase':
      return true
    case 'Replace': {
      // A literal replaced by something at least as long (Llama's ' ' → '▁'); a regex may delete.
      const pattern = obj(o.pattern)
      return (
        typeof pattern?.String === 'string' &&
        typeof o.content === 'string' &&
        o.content.length >= pattern.String.length
      )
    }
    default:
      // NFC/NFKC compose several characters into one; Strip, StripAccents, BertNormalizer delete.
      return false
  }
}

/** Pre-tokenizers that drop no character (whitespace splitters and `Removed` splits do). */
function keepsText(p: unknown): boolean {
  const o = obj(p)
  if (o === undefined) return p === null || p === undefined
  switch (o.type) {
    case 'Sequence':
      return Array.isArray(o.pretokenizers) && o.pretokenizers.every(keepsText)
    case 'ByteLevel':
    case 'Metaspace':
    case 'Digits':
    case 'Punctuation':
    case 'UnicodeScripts':
      return true
    case 'Split':
      return o.behavior !== 'Removed'
    default:
      return false
  }
}

function usesByteLevel(p: unknown): boolean {
  const o = obj(p)
  if (o?.type === 'ByteLevel') return true
  return o?.type === 'Sequence' && Array.isArray(o.pretokenizers) && o.pretokenizers.some(usesByteLevel)
}

/**
 * The most characters (UTF-16 code units) one token of this tokenizer can stand for, read from a
 * Hugging Face `tokenizer.json`, or Infinity when no such bound holds. A prompt of `n` characters
 * then has at least `ceil(n / bound)` tokens, which lets a node refuse a prompt that cannot fit
 * the context before it spends any time tokenizing it.
 *
 * The bound is the longest vocabulary or added token, in characters of its vocabulary form. That
 * form is never shorter than the text it covers: byte-level BPE spells each byte as one
 * character (a character is one to three bytes per UTF-16 unit), SentencePiece's '▁' is one space,
 * WordPiece's '##' adds two. It holds only for a lossless BPE: every character reaches some
 * token. A normalizer or pre-tokenizer that can delete or merge characters, an unknown token that
 * fuses a run of unknown characters, or another model type gives Infinity (no bound: only the
 * absolute prompt limit applies).
 */
export function maxCharsPerToken(tokenizerJson: Json): number {
  const model = obj(tokenizerJson.model)
  if (model?.type !== 'BPE') return Infinity
  if (!keepsLength(tokenizerJson.normalizer) || !keepsText(tokenizerJson.pre_tokenizer)) return Infinity
  // Every character must reach a token: as bytes (byte-level, byte fallback) or as one unknown
  // token each. Without an unknown token it is dropped; a fused one covers any run of them.
  const lossless =
    usesByteLevel(tokenizerJson.pre_tokenizer) ||
    model.byte_fallback === true ||
    (typeof model.unk_token === 'string' && model.fuse_unk !== true)
  if (!lossless) return Infinity
  const vocab = obj(model.vocab)
  if (vocab === undefined) return Infinity
  let longest = 1
  for (const piece of Object.keys(vocab)) longest = Math.max(longest, piece.length)
  if (Array.isArray(tokenizerJson.added_tokens)) {
    for (const t of tokenizerJson.added_tokens) {
      const content = obj(t)?.content
      if (typeof content === 'string') longest = Math.max(longest, content.length)
    }
  }
  return longest
}
