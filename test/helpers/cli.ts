import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Repository root (this file runs from dist/test/helpers). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
export const CORDEX = join(ROOT, 'bin', 'cordex')

export interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Run `cordex <args>` to completion (killed after `timeoutMs`). */
export function cordex(args: string[], timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CORDEX, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs)
    proc.on('error', reject)
    proc.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

/** Run a command that prints JSON and return it parsed; throws with its stderr when it fails. */
export async function cordexJson<T>(args: string[]): Promise<T> {
  const r = await cordex([...args, '--json'])
  if (r.code !== 0) throw new Error(`cordex ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

/** A temporary directory removed by `cleanup()`; short, so Unix socket paths stay under 107 bytes. */
export function tempDir(prefix = 'cx-'): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix))
  // CORDEX_KEEP_TEST_DIR=1 keeps the daemons' data and logs for a look after a run.
  const cleanup = (): void => {
    if (process.env.CORDEX_KEEP_TEST_DIR === undefined) rmSync(path, { recursive: true, force: true })
    else process.stderr.write(`kept ${path}\n`)
  }
  return { path, cleanup }
}

/** Poll `check` until it returns a value other than undefined, or fail after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastErr: unknown
  while (Date.now() < deadline) {
    try {
      const v = await check()
      if (v !== undefined) return v
    } catch (err) {
      lastErr = err
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`timed out waiting for ${what}${lastErr !== undefined ? `: ${String(lastErr)}` : ''}`)
}

/** Resolve when `proc` has exited; reports its code and signal. */
export function exited(proc: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (proc.exitCode !== null || proc.signalCode !== null) {
    return Promise.resolve({ code: proc.exitCode, signal: proc.signalCode })
  }
  return new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })))
}

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
