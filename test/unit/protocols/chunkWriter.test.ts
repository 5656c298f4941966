import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ChunkWriter, type OutputChunk } from '../../../src/protocols/infer/chunkWriter.js'

/** A stream whose writes finish when the test says so. */
function slowStream() {
  const written: OutputChunk[] = []
  const waiting: Array<() => void> = []
  const writer = new ChunkWriter(async (c) => {
    written.push({ tokens: [...c.tokens], text: c.text })
    await new Promise<void>((resolve) => waiting.push(resolve))
  })
  const finishOne = async (): Promise<void> => {
    waiting.shift()?.()
    await new Promise((r) => setImmediate(r))
  }
  return { writer, written, finishOne }
}

test('chunks go out in order; those that come while a write is in flight go out together in the next', async () => {
  const { writer, written, finishOne } = slowStream()
  const first = writer.push({ tokens: [1], text: 'a' })
  for (let t = 2; t <= 5; t++) void writer.push({ tokens: [t], text: String.fromCharCode(96 + t) })
  assert.deepEqual(written, [{ tokens: [1], text: 'a' }], 'one write at a time')
  await finishOne()
  assert.deepEqual(written[1], { tokens: [2, 3, 4, 5], text: 'bcde' }, 'the queued chunks, merged')
  await finishOne()
  await first
  await writer.drained()
  // Idle again: the next chunk is its own frame at once.
  void writer.push({ tokens: [6], text: 'f' })
  assert.deepEqual(written[2], { tokens: [6], text: 'f' })
  await finishOne()
  await writer.drained()
  assert.deepEqual(
    written.flatMap((c) => c.tokens),
    [1, 2, 3, 4, 5, 6],
  )
})

test('a merged chunk stays within 1,024 tokens: more start the next frame', async () => {
  const { writer, written, finishOne } = slowStream()
  void writer.push({ tokens: [0], text: '' })
  for (let i = 0; i < 3; i++)
    void writer.push({ tokens: Array.from({ length: 600 }, (_, j) => j), text: 'x' })
  while (written.length < 4) await finishOne()
  await finishOne()
  await writer.drained()
  assert.deepEqual(
    written.map((c) => c.tokens.length),
    [1, 600, 600, 600],
  )
})

test('after a failed write nothing more is written, and every later push and drain reject with its error', async () => {
  let writes = 0
  const broken = new Error('stream reset')
  const writer = new ChunkWriter(async () => {
    writes++
    throw broken
  })
  await assert.rejects(writer.push({ tokens: [1], text: 'a' }), broken)
  await assert.rejects(writer.push({ tokens: [2], text: 'b' }), broken)
  await assert.rejects(writer.drained(), broken)
  assert.equal(writes, 1)
})
