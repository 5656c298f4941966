/**
 * Which sections a benchmark runs: those named on its command line, or all of them when none is.
 * A name it does not have is an error, so that a typo runs nothing rather than nothing silently.
 */
export function pickSections(
  all: readonly string[],
  names = process.argv.slice(2),
): (name: string) => boolean {
  const unknown = names.filter((a) => !all.includes(a))
  if (unknown.length > 0)
    throw new Error(`unknown section ${unknown.join(', ')}; sections: ${all.join(', ')}`)
  return (name) => names.length === 0 || names.includes(name)
}
