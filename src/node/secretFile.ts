import { stat } from 'node:fs/promises'

/**
 * Why `file`, which holds a secret (a key, a token), must not be used: readable or writable by
 * group or others. Undefined when only its owner can use it. SPEC 1: refused as ssh refuses a key.
 */
export async function insecureModeReason(file: string): Promise<string | undefined> {
  const mode = (await stat(file)).mode & 0o777
  if ((mode & 0o077) === 0) return undefined
  return `${file} has mode 0${mode.toString(8)}; it must be readable by its owner only (chmod 600 ${file})`
}
