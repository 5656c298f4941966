import { mkdir, readFile, writeFile, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { Level } from 'level'
import { CordexError } from '../util/errors.js'

export type DataDirErrorCode = 'DATA_DIR_LOCKED' | 'DATA_DIR_UNUSABLE'
export class DataDirError extends CordexError<DataDirErrorCode, { dataDir: string; pid?: number }> {}

/** Where everything of one daemon lives. */
export interface DataDirPaths {
  root: string
  /** The daemon's LevelDB (peer store and DHT records now; the ledger later). */
  db: string
  socket: string
  pidFile: string
  config: string
  identity: string
  /** Bearer token of the TCP API listener (mode 0600). */
  apiToken: string
}

/** Linux caps a Unix socket path at 107 bytes. */
const MAX_SOCKET_PATH = 107

export function dataDirPaths(dataDir: string): DataDirPaths {
  const root = resolve(dataDir)
  return {
    root,
    db: join(root, 'db'),
    socket: join(root, 'cordex.sock'),
    pidFile: join(root, 'daemon.pid'),
    config: join(root, 'config.json'),
    identity: join(root, 'identity.key'),
    apiToken: join(root, 'api.token'),
  }
}

/**
 * The daemon's hold on its data directory. Opening the LevelDB takes LevelDB's own lock, which the
 * kernel releases when the process dies however it dies, so a crash never leaves a stale lock; the
 * pid file only tells a second daemon (and `cordex status`) who holds it.
 */
export class DataDirLock {
  private constructor(
    readonly paths: DataDirPaths,
    readonly db: Level<string, Uint8Array>,
  ) {}

  static async acquire(dataDir: string): Promise<DataDirLock> {
    const paths = dataDirPaths(dataDir)
    if (Buffer.byteLength(paths.socket) > MAX_SOCKET_PATH) {
      throw new DataDirError(
        'DATA_DIR_UNUSABLE',
        `data directory path too long for a Unix socket (${paths.socket} is over ${MAX_SOCKET_PATH} bytes)`,
        { dataDir: paths.root },
      )
    }
    await mkdir(paths.root, { recursive: true, mode: 0o700 })
    const db = new Level<string, Uint8Array>(paths.db, { valueEncoding: 'view' })
    try {
      await db.open()
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause
      if (cause?.code === 'LEVEL_LOCKED') {
        const pid = await readPid(paths.pidFile)
        throw new DataDirError(
          'DATA_DIR_LOCKED',
          `another daemon is running on ${paths.root}${pid !== undefined ? ` (pid ${pid})` : ''}`,
          { dataDir: paths.root, ...(pid !== undefined ? { pid } : {}) },
        )
      }
      throw new DataDirError(
        'DATA_DIR_UNUSABLE',
        `cannot open database in ${paths.db}: ${(err as Error).message}`,
        {
          dataDir: paths.root,
        },
      )
    }
    // We hold the lock: a socket file left here belongs to a daemon that died without cleaning up.
    await rm(paths.socket, { force: true })
    await writeFile(paths.pidFile, `${process.pid}\n`, { mode: 0o600 })
    return new DataDirLock(paths, db)
  }

  async release(): Promise<void> {
    await rm(this.paths.pidFile, { force: true })
    await this.db.close()
  }
}

export async function readPid(pidFile: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(pidFile, 'utf8'), 10)
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}
