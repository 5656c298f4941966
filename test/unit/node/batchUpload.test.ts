import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FormData, Response } from 'undici'
import { parseMultipart } from '../../../src/node/api/multipart.js'
import { HttpError } from '../../../src/node/api/errors.js'
import { formData } from '../../../src/cli/cmds/batch/form.js'

const jsonl = '{"custom_id":"a"}\r\n{"custom_id":"b"}\n'

test('the form the openai package sends (undici FormData) parses into its file and purpose', async () => {
  const form = new FormData()
  form.append('purpose', 'batch')
  form.append('file', new Blob([jsonl], { type: 'application/jsonl' }), 'in "x".jsonl')
  const res = new Response(form)
  const parts = parseMultipart(res.headers.get('content-type')!, Buffer.from(await res.arrayBuffer()))
  assert.equal(parts.find((p) => p.name === 'purpose')?.data.toString(), 'batch')
  const file = parts.find((p) => p.name === 'file')!
  assert.equal(file.data.toString(), jsonl, 'the bytes come back exactly, CRLF inside included')
  assert.equal(file.contentType, 'application/jsonl')
  assert.ok(file.filename?.startsWith('in '))
})

test('the CLI’s form parses back to what it was made of', () => {
  const f = formData(
    { purpose: 'batch' },
    { name: 'file', filename: 'b.jsonl', contentType: 'application/jsonl', data: Buffer.from(jsonl) },
  )
  const parts = parseMultipart(f.contentType, f.data)
  assert.deepEqual(
    parts.map((p) => [p.name, p.filename, p.data.toString()]),
    [
      ['purpose', undefined, 'batch'],
      ['file', 'b.jsonl', jsonl],
    ],
  )
})

test('malformed forms are a 400 invalid_multipart', () => {
  const refuse = (type: string, body: string): void => {
    assert.throws(
      () => parseMultipart(type, Buffer.from(body)),
      (e: unknown) => e instanceof HttpError && e.status === 400 && e.code === 'invalid_multipart',
    )
  }
  refuse('multipart/form-data', '--x\r\n')
  refuse('multipart/form-data; boundary=x', 'no boundary here')
  refuse(
    'multipart/form-data; boundary=x',
    '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nunterminated',
  )
  refuse('multipart/form-data; boundary=x', '--x\r\nX-Other: 1\r\n\r\nv\r\n--x--')
  refuse(
    'multipart/form-data; boundary=x',
    `${'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n'.repeat(17)}--x--`,
  )
})
