import { randomBytes } from 'node:crypto'
import { link, open, readFile, unlink } from 'node:fs/promises'
import { dataDirPaths } from './dataDir.js'
import { CordexError } from '../util/errors.js'
import { insecureModeReason } from './secretFile.js'

export type ApiTokenErrorCode =
  'API_TOKEN_MISSING' | 'API_TOKEN_UNREADABLE' | 'API_TOKEN_INSECURE' | 'API_TOKEN_INVALID'
export class ApiTokenError extends CordexError<ApiTokenErrorCode, { file: string }> {}

export interface ApiToken {
  /** The bearer token the TCP listener requires. */
  token: string
  file: string
  /** True when this call created the file. */
  created: boolean
}

/**
 * A bearer token as RFC 6750 writes it (b64token), long enough not to be guessed. Ours are 32
 * random bytes in base64url (43 characters); an operator may write their own.
 */
const TOKEN = /^[A-Za-z0-9\-._~+/]{16,512}=*$/

/**
 * Load the TCP API's bearer token from `<dataDir>/api.token`, creating it (32 random bytes,
 * base64url, mode 0600) when it is missing. Like identity.key, a file readable by group or others
 * is refused: whoever can read it can spend this node's coins.
 */
export async function loadOrCreateApiToken(dataDir: string): Promise<ApiToken> {
  const file = dataDirPaths(dataDir).apiToken
  const existing = await readTokenFile(file)
  if (existing !== undefined) return { token: existing, file, created: false }
  const token = randomBytes(32).toString('base64url')
  // Written aside and linked into place: the link fails if another process (`cordex init` next to
  // a starting daemon) made one first, and then both use that one. A crash never leaves half a token.
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`
  try {
    const fh = await open(tmp, 'wx', 0o600)
    try {
      await fh.writeFile(token)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await link(tmp, file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    return { token: await readApiToken(dataDir), file, created: false }
  } finally {
    await unlink(tmp).catch(() => {})
  }
  return { token, file, created: true }
}

/**
 * The bearer token of the daemon on `dataDir`, for its clients (the CLI over TCP, tests, benches):
 * what an OpenAI client takes as `apiKey`. Throws an ApiTokenError when it is missing, insecure or
 * malformed.
 */
export async function readApiToken(dataDir: string): Promise<string> {
  const file = dataDirPaths(dataDir).apiToken
  const token = await readTokenFile(file)
  if (token === undefined) {
    throw new ApiTokenError(
      'API_TOKEN_MISSING',
      `${file} does not exist; run \`cordex init\` or start the daemon once to create it`,
      { file },
    )
  }
  return token
}

/** The token in `file`, or undefined when there is no such file. */
async function readTokenFile(file: string): Promise<string | undefined> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new ApiTokenError('API_TOKEN_UNREADABLE', `cannot read ${file}: ${(err as Error).message}`, {
      file,
    })
  }
  const insecure = await insecureModeReason(file)
  if (insecure !== undefined) throw new ApiTokenError('API_TOKEN_INSECURE', insecure, { file })
  // A trailing newline from an editor is not part of the token.
  const token = text.trim()
  if (!TOKEN.test(token)) {
    throw new ApiTokenError(
      'API_TOKEN_INVALID',
      `${file} does not hold a token (16 to 512 of A-Z a-z 0-9 - . _ ~ + /); delete it to have a new one made`,
      { file },
    )
  }
  return token
}
