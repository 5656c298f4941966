// A strict parser of Prometheus' text exposition format 0.0.4, for tests that scrape `GET /metrics`:
// it throws on anything a Prometheus server would refuse (and on some things it would only warn
// about), so that a test that parses a scrape proves the scrape is usable.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'

export interface Sample {
  /** The sample's own name (`x_bucket`, `x_sum`, `x_count` for a histogram's parts). */
  name: string
  labels: Record<string, string>
  value: number
}

export interface Family {
  name: string
  type: MetricType
  help: string
  samples: Sample[]
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

/** Parse a whole exposition; throws an Error naming the line on anything malformed. */
export function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>()
  const seen = new Set<string>()
  let current: Family | undefined
  const lines = text.split('\n')
  if (lines.at(-1) !== '') throw new Error('the exposition does not end with a newline')
  lines.forEach((line, i) => {
    const fail = (why: string): never => {
      throw new Error(`line ${i + 1}: ${why}: ${JSON.stringify(line.slice(0, 200))}`)
    }
    if (line === '') return
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line)
      if (m === null) return // a plain comment
      const [, kind, name = '', rest = ''] = m
      if (!METRIC_NAME.test(name)) fail('bad metric name')
      let family = families.get(name)
      if (family === undefined) {
        if (seen.has(name)) fail('a family declared again after other families')
        family = { name, type: 'untyped', help: '', samples: [] }
        families.set(name, family)
        seen.add(name)
      } else if (family.samples.length > 0) fail(`${kind} after the family's samples`)
      if (kind === 'TYPE') {
        if (!TYPES.has(rest as MetricType)) fail('unknown type')
        family.type = rest as MetricType
      } else family.help = rest
      current = family
      return
    }
    const sample = parseSample(line, fail)
    const family = familyOf(sample.name, current)
    if (family === undefined) fail('a sample outside its declared family')
    family!.samples.push(sample)
  })
  for (const family of families.values()) checkFamily(family)
  return families
}

/** The family `name` belongs to: the current one, by its name or, for histograms and summaries, a suffix. */
function familyOf(name: string, current: Family | undefined): Family | undefined {
  if (current === undefined) return undefined
  if (name === current.name) return current.type === 'histogram' ? undefined : current
  const suffixes =
    current.type === 'histogram'
      ? ['_bucket', '_sum', '_count']
      : current.type === 'summary'
        ? ['_sum', '_count']
        : []
  return suffixes.some((s) => name === current.name + s) ? current : undefined
}

function parseSample(line: string, fail: (why: string) => never): Sample {
  const nameEnd = line.search(/[{ ]/)
  if (nameEnd <= 0) fail('no sample name')
  const name = line.slice(0, nameEnd)
  if (!METRIC_NAME.test(name)) fail('bad sample name')
  const labels: Record<string, string> = {}
  let i = nameEnd
  if (line[i] === '{') {
    i++
    while (line[i] !== '}') {
      const eq = line.indexOf('=', i)
      if (eq === -1) fail('label without =')
      const label = line.slice(i, eq)
      if (!LABEL_NAME.test(label)) fail(`bad label name ${label}`)
      if (label in labels) fail(`label ${label} twice`)
      if (line[eq + 1] !== '"') fail('label value not quoted')
      let value = ''
      let j = eq + 2
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] !== '\\') {
          value += line[j]
          continue
        }
        const next = line[++j]
        if (next === 'n') value += '\n'
        else if (next === '\\' || next === '"') value += next
        else fail('bad escape in a label value')
      }
      if (j >= line.length) fail('unterminated label value')
      labels[label] = value
      i = j + 1
      if (line[i] === ',') i++
      else if (line[i] !== '}') fail('expected , or } after a label')
    }
    i++
  }
  if (line[i] !== ' ') fail('no space before the value')
  const parts = line.slice(i + 1).split(' ')
  if (parts.length > 2 || parts[0] === '') fail('expected a value and at most a timestamp')
  if (parts.length === 2 && !/^-?\d+$/.test(parts[1]!)) fail('bad timestamp')
  return { name, labels, value: parseValue(parts[0]!, fail) }
}

/** A float as Go's ParseFloat takes it (what Prometheus uses): NaN and Inf in any case. */
function parseValue(s: string, fail: (why: string) => never): number {
  if (/^nan$/i.test(s)) return NaN
  if (/^[+]?inf$/i.test(s)) return Infinity
  if (/^-inf$/i.test(s)) return -Infinity
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) fail(`bad value ${s}`)
  return Number(s)
}

const seriesKey = (s: Sample): string =>
  `${s.name}{${Object.entries(s.labels)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(',')}}`

/** No series twice; counters never negative; histograms' buckets cumulative up to +Inf = count. */
function checkFamily(f: Family): void {
  const keys = new Set<string>()
  for (const s of f.samples) {
    const key = seriesKey(s)
    if (keys.has(key)) throw new Error(`${f.name}: series ${key} twice`)
    keys.add(key)
    if (f.type === 'counter' && !(s.value >= 0)) throw new Error(`${f.name}: counter ${key} is ${s.value}`)
  }
  if (f.type !== 'histogram') return
  const groups = new Map<string, Sample[]>()
  for (const s of f.samples) {
    const { le, ...rest } = s.labels
    if (s.name.endsWith('_bucket') && le === undefined) throw new Error(`${f.name}: a bucket without le`)
    const key = JSON.stringify(Object.entries(rest).sort())
    groups.set(key, [...(groups.get(key) ?? []), s])
  }
  for (const samples of groups.values()) {
    const buckets = samples
      .filter((s) => s.name.endsWith('_bucket'))
      .map((s) => ({
        le: parseValue(s.labels.le!, (why) => {
          throw new Error(`${f.name}: ${why}`)
        }),
        value: s.value,
      }))
      .sort((a, b) => a.le - b.le)
    const count = samples.find((s) => s.name === `${f.name}_count`)
    if (count === undefined || !samples.some((s) => s.name === `${f.name}_sum`))
      throw new Error(`${f.name}: a histogram without _sum or _count`)
    if (buckets.at(-1)?.le !== Infinity) throw new Error(`${f.name}: no +Inf bucket`)
    buckets.forEach((b, i) => {
      if (i > 0 && b.value < buckets[i - 1]!.value) throw new Error(`${f.name}: buckets not cumulative`)
    })
    if (buckets.at(-1)!.value !== count.value) throw new Error(`${f.name}: +Inf bucket is not _count`)
  }
}

/**
 * The sum of the samples named `name` whose labels include `labels` (0 when there are none): one
 * series' value, or a total over the labels left out.
 */
export function total(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number {
  let sum = 0
  for (const f of families.values())
    for (const s of f.samples)
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value
  return sum
}
