import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

// A clone of the repository must stand alone (issue 14): every link in its Markdown resolves to a
// file inside it, or is a web or mail address. This file runs from dist/test/unit/docs/.
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..')

/** Folders that are not the repository's own Markdown: installed packages, build outputs, git. */
const SKIP_DIRS = new Set([
  'node_modules',
  'dist',
  'build',
  '.git',
  '.tmp',
  '.gl',
  '__pycache__',
  'test-output',
])

/** Schemes a link may use to leave the repository. */
const ALLOWED_SCHEMES = new Set(['http', 'https', 'mailto'])

interface Link {
  /** Path of the Markdown file, relative to the root it was found under. */
  file: string
  /** 1-based line of the link. */
  line: number
  target: string
}

/** Every *.md file under `root`, relative to it, sorted. */
function markdownFiles(root: string, dir = root): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((entry) => {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) return SKIP_DIRS.has(entry.name) ? [] : markdownFiles(root, path)
      return entry.isFile() && entry.name.endsWith('.md') ? [relative(root, path)] : []
    })
}

/**
 * The lines of a Markdown text with fenced code blocks blanked out (a link or heading in a code
 * sample is text), and inline code spans replaced by their content (for headings) or removed (for
 * links: `[x](y)` inside backticks is not a link).
 */
function proseLines(text: string): Array<{ line: number; text: string }> {
  const out: Array<{ line: number; text: string }> = []
  let fence: string | undefined
  text.split('\n').forEach((raw, i) => {
    const opener = /^ {0,3}(`{3,}|~{3,})/.exec(raw)
    if (fence !== undefined) {
      if (opener !== null && opener[1]!.startsWith(fence) && raw.trim() === opener[1]) fence = undefined
      return
    }
    if (opener !== null) {
      fence = opener[1]!
      return
    }
    out.push({ line: i + 1, text: raw })
  })
  return out
}

const CODE_SPAN = /(`+)([\s\S]*?)\1/g

/** Inline links and images `[text](target "title")`, reference definitions, autolinks, HTML href/src. */
function linksIn(file: string, text: string): Link[] {
  const links: Link[] = []
  for (const { line, text: raw } of proseLines(text)) {
    const prose = raw.replace(CODE_SPAN, (m) => ' '.repeat(m.length))
    const inline = /\]\(\s*(<[^>\n]*>|(?:[^\s()]|\([^\s()]*\))*)(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)/g
    for (const m of prose.matchAll(inline)) links.push({ file, line, target: unbracket(m[1]!) })
    const definition = /^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/.exec(prose)
    if (definition !== null) links.push({ file, line, target: unbracket(definition[1]!) })
    for (const m of prose.matchAll(/<([a-zA-Z][a-zA-Z0-9+.-]*:[^\s<>]*)>/g))
      links.push({ file, line, target: m[1]! })
    for (const m of prose.matchAll(/<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*["']([^"']*)["']/gi))
      links.push({ file, line, target: m[1]! })
  }
  return links
}

function unbracket(target: string): string {
  return target.startsWith('<') && target.endsWith('>') ? target.slice(1, -1) : target
}

/**
 * GitHub's anchor for a heading: the rendered text (code spans, links and emphasis reduced to
 * their text), lowercased, with everything but letters, digits, spaces, `-` and `_` removed and
 * spaces made `-`; a repeated anchor gets `-1`, `-2`, ... .
 */
function slug(heading: string): string {
  const rendered = heading
    .replace(CODE_SPAN, (_m, _ticks: string, code: string) => code)
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
  return rendered
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-')
}

/** The anchors of a Markdown file: its headings' slugs and any explicit HTML ids or names. */
function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>()
  const seen = new Map<string, number>()
  const add = (base: string): void => {
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    anchors.add(n === 0 ? base : `${base}-${n}`)
  }
  const lines = proseLines(text)
  lines.forEach(({ text: line }, i) => {
    const atx = /^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/.exec(line)
    if (atx !== null) add(slug(atx[1]!))
    const previous = lines[i - 1]
    if (
      /^ {0,3}(=+|-+)[ \t]*$/.test(line) &&
      previous !== undefined &&
      previous.line === lines[i]!.line - 1
    ) {
      if (previous.text.trim() !== '' && !/^ {0,3}(#|[-*+] |\||>)/.test(previous.text))
        add(slug(previous.text))
    }
    for (const m of line.matchAll(/<[a-z][^>]*?\b(?:id|name)\s*=\s*["']([^"']+)["']/gi)) anchors.add(m[1]!)
  })
  return anchors
}

/** Why `link` is bad, or undefined when it is fine. */
function problem(root: string, link: Link, anchors: (file: string) => Set<string>): string | undefined {
  const { target } = link
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(target)
  if (scheme !== null) {
    const name = scheme[1]!.toLowerCase()
    if (ALLOWED_SCHEMES.has(name)) return undefined
    if (name === 'file') return 'a file: URL points outside the repository'
    if (name.length === 1) return 'an absolute filesystem path'
    return `the ${name}: scheme is not allowed (only ${[...ALLOWED_SCHEMES].join(', ')})`
  }
  if (target.startsWith('//')) return 'a protocol-relative URL; write https://'
  if (target.startsWith('/') || target.startsWith('\\') || target.startsWith('~'))
    return 'an absolute filesystem path'
  const hash = target.indexOf('#')
  const pathPart = (hash === -1 ? target : target.slice(0, hash)).replace(/\?.*$/, '')
  const fragment = hash === -1 ? undefined : target.slice(hash + 1)
  let path: string
  try {
    path = decodeURIComponent(pathPart)
  } catch {
    return 'a malformed percent-escape'
  }
  const from = join(root, link.file)
  const resolved = path === '' ? from : resolve(dirname(from), path)
  if (!inside(root, resolved)) return `resolves outside the repository (${resolved})`
  if (!existsSync(resolved)) return `${relative(root, resolved) || '.'} does not exist`
  if (!inside(realpathSync(root), realpathSync(resolved))) return 'a symbolic link that leaves the repository'
  if (fragment !== undefined && fragment !== '' && resolved.endsWith('.md') && statSync(resolved).isFile()) {
    let anchor: string
    try {
      anchor = decodeURIComponent(fragment).toLowerCase()
    } catch {
      return 'a malformed percent-escape in the anchor'
    }
    if (!anchors(resolved).has(anchor)) return `${relative(root, resolved)} has no heading #${fragment}`
  }
  return undefined
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path)
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel))
}

/** Every bad link under `root`, as `file:line: target: why`. */
function badLinks(root: string): string[] {
  const cache = new Map<string, Set<string>>()
  const anchors = (file: string): Set<string> => {
    let set = cache.get(file)
    if (set === undefined) {
      set = anchorsOf(readFileSync(file, 'utf8'))
      cache.set(file, set)
    }
    return set
  }
  return markdownFiles(root).flatMap((file) =>
    linksIn(file, readFileSync(join(root, file), 'utf8')).flatMap((link) => {
      const why = problem(root, link, anchors)
      return why === undefined ? [] : [`${link.file}:${link.line}: (${link.target}): ${why}`]
    }),
  )
}

test('no Markdown file in the repository links outside it, to a missing file or to a missing heading', () => {
  assert.ok(existsSync(join(ROOT, 'package.json')), `${ROOT} is not the repository root`)
  const files = markdownFiles(ROOT)
  assert.ok(files.includes('README.md') && files.includes(join('docs', 'protocol.md')), files.join(', '))
  const bad = badLinks(ROOT)
  assert.equal(bad.length, 0, `bad links:\n${bad.join('\n')}`)
})

test('the checker names each bad link with its file and line, and passes good ones', () => {
  const root = mkdtempSync(join(tmpdir(), 'cordex-links-'))
  try {
    mkdirSync(join(root, 'docs'))
    mkdirSync(join(root, 'node_modules'))
    writeFileSync(join(root, 'node_modules', 'skipped.md'), '[gone](../../nowhere.md)\n')
    writeFileSync(
      join(root, 'docs', 'a.md'),
      [
        '# Title with `code` and a [link](b.md)',
        '',
        '## Phases (`src/ledger/epoch/`)',
        '',
        'Good: [b](b.md), [b section](b.md#second-part), [self](#phases-srcledgerepoch), [dir](../docs/),',
        '![image](b.md "a title"), [web](https://example.com/x_(y)), <https://example.com>, [mail](mailto:a@b.c).',
        'Also `[not a link](../../outside.md)` in code, and a [top](#title-with-code-and-a-link).',
        '',
        '```md',
        '[in a fence](../../outside.md)',
        '# Not a heading',
        '```',
        '',
        'Bad: [up](../../shared/SPEC.md) and [missing](c.md)',
        '[heading](b.md#no-such-part) [abs](/etc/passwd) [file](file:///etc/passwd) [fence](#not-a-heading)',
        '',
        '[ref]: ../../outside.md',
      ].join('\n'),
    )
    writeFileSync(join(root, 'docs', 'b.md'), '# B\n\n## Second part\n')
    assert.deepEqual(badLinks(root), [
      `${join('docs', 'a.md')}:14: (../../shared/SPEC.md): resolves outside the repository (${resolve(root, '..', 'shared', 'SPEC.md')})`,
      `${join('docs', 'a.md')}:14: (c.md): ${join('docs', 'c.md')} does not exist`,
      `${join('docs', 'a.md')}:15: (b.md#no-such-part): ${join('docs', 'b.md')} has no heading #no-such-part`,
      `${join('docs', 'a.md')}:15: (/etc/passwd): an absolute filesystem path`,
      `${join('docs', 'a.md')}:15: (file:///etc/passwd): a file: URL points outside the repository`,
      `${join('docs', 'a.md')}:15: (#not-a-heading): ${join('docs', 'a.md')} has no heading #not-a-heading`,
      `${join('docs', 'a.md')}:17: (../../outside.md): resolves outside the repository (${resolve(root, '..', 'outside.md')})`,
    ])
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
})

test("GitHub's heading anchors", () => {
  assert.equal(slug('Request/response (`src/protocols/reqresp.ts`)'), 'requestresponse-srcprotocolsreqrespts')
  assert.equal(slug('`max_cost` as a gas limit'), 'max_cost-as-a-gas-limit')
  assert.equal(
    slug('4.1 The Race function (normative, versioned)'),
    '41-the-race-function-normative-versioned',
  )
  assert.equal(slug('Épreuve — über'), 'épreuve--über')
  assert.deepEqual([...anchorsOf('# A\n## A\n# A\n')], ['a', 'a-1', 'a-2'])
})
