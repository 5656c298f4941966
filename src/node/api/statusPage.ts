import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PACKAGE_ROOT } from '../../version.js'

/** The folder the status page's files ship in (read as they are: no build step). */
export const STATUS_PAGE_DIR = join(PACKAGE_ROOT, 'src', 'node', 'api', 'ui')

/**
 * Request path → file in the page's folder and its content type. These paths, and no others, are
 * served without a token: the files hold no data, only the code that asks the API for it.
 */
const FILES: Record<string, [file: string, contentType: string]> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/ui/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/ui/style.css': ['style.css', 'text/css; charset=utf-8'],
  '/ui/icon.svg': ['icon.svg', 'image/svg+xml'],
}

/**
 * Headers of every page file: the page runs its own script only (no inline script, no other
 * origin, so no external script or font either), cannot be framed, and sends no referrer (its
 * address may still hold the token for a moment, in its fragment).
 */
const PAGE_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
}

export interface PageFile {
  contentType: string
  bytes: Buffer
  /** Strong ETag of the bytes. */
  etag: string
}

/** The status page's files, read once when the API starts. */
export class StatusPage {
  private constructor(private readonly files: Map<string, PageFile>) {}

  /** Read every file of the page from `dir` (default STATUS_PAGE_DIR); a missing one throws. */
  static async load(dir = STATUS_PAGE_DIR): Promise<StatusPage> {
    const files = new Map<string, PageFile>()
    for (const [path, [file, contentType]] of Object.entries(FILES)) {
      const bytes = await readFile(join(dir, file))
      const etag = `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 22)}"`
      files.set(path, { contentType, bytes, etag })
    }
    return new StatusPage(files)
  }

  /** The file served at `path` (without its query), or undefined: the page has nothing else. */
  file(path: string): PageFile | undefined {
    return this.files.get(path)
  }

  /** The answer to a GET of `file`: 304 when the client's copy is current. */
  static answer(
    file: PageFile,
    ifNoneMatch: string | undefined,
  ): { status: number; headers: Record<string, string>; body: Buffer } {
    const headers = { ...PAGE_HEADERS, etag: file.etag }
    if (ifNoneMatch !== undefined && ifNoneMatch.split(/\s*,\s*/).includes(file.etag)) {
      return { status: 304, headers, body: Buffer.alloc(0) }
    }
    return {
      status: 200,
      headers: { ...headers, 'content-type': file.contentType, 'content-length': String(file.bytes.length) },
      body: file.bytes,
    }
  }
}
