/**
 * Everything the benchmark says to a person goes through here: progress lines on stderr while it
 * runs, and the figures on stdout at the end (so `node dist/bench/net.js > out.txt` keeps only them).
 */

export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`)
}

export function print(line = ''): void {
  process.stdout.write(`${line}\n`)
}

/** Milliseconds with a precision that suits their size. */
export function ms(value: number | null | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '—'
  if (value >= 1000) return `${(value / 1000).toFixed(2)} s`
  if (value >= 10) return `${value.toFixed(1)} ms`
  if (value >= 1) return `${value.toFixed(2)} ms`
  return `${value.toFixed(3)} ms`
}

export function num(value: number | null | undefined, digits = 1): string {
  return value === null || value === undefined || Number.isNaN(value) ? '—' : value.toFixed(digits)
}

/** A plain text table: the first row is the header; columns are padded to their widest cell. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = []
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)))
  const line = (row: readonly string[]): string =>
    row
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd()
  const out = rows.map(line)
  out.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '))
  return out.join('\n')
}
