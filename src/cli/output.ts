/** Print data for machines: one JSON document on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
}

/** Render rows as an aligned plain-text table with a header line. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd()
  return [line(headers), ...rows.map(line)].join('\n')
}

/** `1h 2m 3s` style duration. */
export function duration(ms: number): string {
  const s = Math.floor(ms / 1000)
  const parts = [
    [Math.floor(s / 86400), 'd'],
    [Math.floor(s / 3600) % 24, 'h'],
    [Math.floor(s / 60) % 60, 'm'],
    [s % 60, 's'],
  ] as const
  const shown = parts.filter(([n]) => n > 0).map(([n, u]) => `${n}${u}`)
  return shown.length > 0 ? shown.join(' ') : `${ms} ms`
}

/** Shorten a peer id for tables: `12D3Koo…a1b2c3`. */
export function shortId(id: string): string {
  return id.length > 16 ? `${id.slice(0, 8)}…${id.slice(-6)}` : id
}
