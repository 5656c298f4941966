/** A piece of streamed output: tokens and the text they completed. */
export interface OutputChunk {
  tokens: number[]
  text: string
}

/** A merged chunk holds at most this many tokens and characters (the decoder takes 4,096 and 1 MiB). */
const MAX_TOKENS = 1024
const MAX_CHARS = 256 * 1024

/**
 * The executor's side of a task stream: chunks are written in order, one write at a time, and
 * the chunks that the engine produces while a write is in flight go out together in the next one.
 * While the network keeps up, every chunk is its own frame; when it falls behind (a slow link, a
 * busy event loop, many tasks at once), the frames grow instead of queueing, so a token never waits
 * behind the framing and encryption of the ones before it.
 */
export class ChunkWriter {
  private readonly pending: OutputChunk[] = []
  private flushing: Promise<void> | null = null
  /** The first write's failure: the stream is broken, and nothing more is written. */
  private failed: { err: unknown } | null = null

  constructor(private readonly write: (chunk: OutputChunk) => Promise<void>) {}

  /** Queue `chunk`; resolves when the write that carries it is done, rejects if a write failed. */
  push(chunk: OutputChunk): Promise<void> {
    if (this.failed !== null) return Promise.reject(this.failed.err)
    const last = this.pending[this.pending.length - 1]
    if (
      last !== undefined &&
      last.tokens.length + chunk.tokens.length <= MAX_TOKENS &&
      last.text.length + chunk.text.length <= MAX_CHARS
    ) {
      last.tokens.push(...chunk.tokens)
      last.text += chunk.text
    } else this.pending.push({ tokens: [...chunk.tokens], text: chunk.text })
    this.flushing ??= this.flush().finally(() => {
      this.flushing = null
    })
    return this.flushing
  }

  /** Resolves when every chunk pushed so far is written; rejects once a write has failed. */
  drained(): Promise<void> {
    if (this.failed !== null) return Promise.reject(this.failed.err)
    return this.flushing ?? Promise.resolve()
  }

  private async flush(): Promise<void> {
    try {
      for (let next = this.pending.shift(); next !== undefined; next = this.pending.shift())
        await this.write(next)
    } catch (err) {
      this.failed = { err }
      this.pending.length = 0
      throw err
    }
  }
}
