import { test, before, after, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import OpenAI from 'openai'
import { TestDaemon, type StatusJson } from '../helpers/daemon.js'
import { tempDir, waitFor, ROOT } from '../helpers/cli.js'
import { startDevnet, type RunningDevnet } from '../helpers/devnet.js'
import { Browser, findChromium, type Page } from '../helpers/chromium.js'
import { readApiToken } from '../../src/node/index.js'

// The status page (`GET /` on the TCP listener) in a real headless Chromium against a devnet of two
// peers that both host the model: the page shows what the API reports, streams a prompt's answer
// and lists the task. Skipped when no Chromium is installed (CI installs Debian's, see .ci/run).
// How the page's files are served and guarded: test/unit/node/api/statusPage.test.ts.

const chromium = findChromium()
const skip = chromium === null ? 'no Chromium (install Debian’s `chromium`, or set CHROMIUM)' : false
/** Where the screenshot goes (gitignored). */
const SCREENSHOT = join(ROOT, 'test-output', 'status-page.png')
const PROMPT = 'Who made the heaven and the earth?'

const dir = tempDir()
let devnet: RunningDevnet | undefined
let browser: Browser | undefined
let page: Page
let gateway: TestDaemon
let status: StatusJson
let token: string
let apiUrl: string

interface Head {
  height: number
  hash: string
}

before(
  async () => {
    if (chromium === null) return
    const base = join(dir.path, 'net')
    devnet = await startDevnet(base, 2, ['--api'])
    status = devnet.peers[0]!
    assert.ok(status.apiUrl !== null, 'the devnet runs the TCP API')
    apiUrl = status.apiUrl
    gateway = new TestDaemon(join(base, 'peer-0'))
    token = await readApiToken(gateway.dataDir)
    await waitFor(
      'a host of the model',
      async () => {
        const m = (await gateway.get<{ data: Array<{ cordex: { hosts: number } }> }>('/v1/models')).body
        return (m.data[0]?.cordex.hosts ?? 0) > 0 ? true : undefined
      },
      60_000,
    )
    browser = await Browser.launch(chromium, join(dir.path, 'chromium'))
    page = await browser.newPage()
    await page.send('Emulation.setDeviceMetricsOverride', {
      width: 1280,
      height: 1100,
      deviceScaleFactor: 1,
      mobile: false,
    })
  },
  { timeout: 120_000 },
)

after(async () => {
  await browser?.close()
  await devnet?.stop()
  dir.cleanup()
})

/** Wait until `expression` (in the page) gives a value other than null or undefined. */
function pageWait<T>(what: string, expression: string, timeoutMs = 30_000): Promise<T> {
  return waitFor(what, async () => (await page.evaluate<T | null>(expression)) ?? undefined, timeoutMs)
}

const text = (id: string): string => `document.getElementById(${JSON.stringify(id)}).textContent`

test(
  'the page shows the peer, the chain and the Race, streams a prompt’s answer and lists its task',
  { skip, timeout: 180_000 },
  async (t: TestContext) => {
    const started = Date.now()
    const head = (await gateway.get<Head>('/ledger/head')).body
    await page.navigate(`${apiUrl}/#token=${encodeURIComponent(token)}`)

    // The token left the address bar at once, for the tab's storage.
    const href = await pageWait<string>(
      'the page',
      `document.readyState === 'complete' ? location.href : null`,
    )
    assert.equal(href, `${apiUrl}/`)

    await pageWait('the peer id', `${text('peer-id')} === ${JSON.stringify(status.peerId)} || null`)
    const shown = await pageWait<number>(
      'the chain height',
      `(() => { const h = Number(${text('head-height')}); return h >= ${head.height} ? h : null })()`,
    )
    const now = (await gateway.get<Head>('/ledger/head')).body
    assert.ok(shown <= now.height, `the page shows height ${shown}, the API ${head.height}..${now.height}`)
    const peerRows = await pageWait<string[]>(
      'the other peer',
      `(() => { const ids = [...document.querySelectorAll('#peers tr')].map((r) => r.dataset.peerId);
      return ids.length > 0 ? ids : null })()`,
    )
    assert.deepEqual(peerRows, [devnet!.peers[1]!.peerId])
    // The Race moves on while the page polls: wait for a moment when both show the same phase and
    // the chart has a bar for each weighted peer.
    await waitFor('the Race as the API reports it', async () => {
      const race = (await gateway.get<{ phase: string; weights: Record<string, string> }>('/race')).body
      const shown = await page.evaluate<{ phase: string; bars: string[] }>(
        `({ phase: ${text('race-phase')}, bars: [...document.querySelectorAll('#weights rect.bar title')]
          .map((t) => t.textContent.split(':')[0]).sort() })`,
      )
      const weighted = Object.keys(race.weights).sort()
      return shown.phase === race.phase && shown.bars.join() === weighted.join() ? true : undefined
    })
    assert.equal(await page.evaluate<string>(`document.getElementById('error').hidden`), true)

    // A prompt, typed and sent as a person would; greedy so that the API gives the same answer.
    await page.evaluate(`document.getElementById('temperature').value = '0'`)
    await page.evaluate(`document.getElementById('max-tokens').value = '24'`)
    await page.type('#prompt', PROMPT)
    await page.click('#send')
    const state = await pageWait<string>(
      'the streamed answer',
      `(() => { const s = document.getElementById('answer').dataset.state; return s === 'done' || s === 'error' ? s : null })()`,
      90_000,
    )
    const meta = await page.evaluate<string>(text('answer-meta'))
    assert.equal(state, 'done', meta)
    const answer = await page.evaluate<string>(text('answer'))
    const taskId = await page.evaluate<string>(`document.getElementById('answer').dataset.taskId`)
    assert.match(taskId, /^[0-9a-f]{64}$/)
    assert.ok(answer.length > 0, 'some text streamed')
    const chunks = Number(await page.evaluate<string>(`document.getElementById('answer').dataset.chunks`))
    assert.ok(chunks > 1, `the answer came in pieces as they streamed (${chunks})`)

    const openai = new OpenAI({ baseURL: `${apiUrl}/v1`, apiKey: token, maxRetries: 0 })
    const direct = await openai.chat.completions.create({
      model: 'kjv-small',
      messages: [{ role: 'user', content: PROMPT }],
      max_tokens: 24,
      temperature: 0,
    })
    assert.equal(answer, direct.choices[0]?.message.content, 'the page shows what the API answers')

    // The recent-tasks list shows the task with its executor, cost and verification.
    const row = await pageWait<{ executor: string; cost: string; verification: string }>(
      'the task in the list',
      `(() => { const r = document.querySelector('#tasks tr[data-task-id="${taskId}"]'); if (!r) return null;
      return { executor: r.querySelector('.executor').title, cost: r.querySelector('.cost').textContent,
        verification: r.querySelector('.verification').textContent } })()`,
    )
    const record = (
      await gateway.get<{ executor: string; cost: string; verification: string }>(`/tasks/${taskId}`)
    ).body
    assert.equal(row.executor, record.executor)
    assert.equal(row.cost, record.cost)
    assert.ok(['pending', 'verified', 'unchecked'].includes(row.verification), row.verification)
    assert.ok(meta.includes(`cost ${record.cost}`), meta)

    const png = await page.screenshot()
    mkdirSync(join(ROOT, 'test-output'), { recursive: true })
    writeFileSync(SCREENSHOT, png)
    t.diagnostic(`screenshot: ${SCREENSHOT}`)
    t.diagnostic(`page test took ${((Date.now() - started) / 1000).toFixed(1)} s`)
  },
)

test('a wrong token is refused with a clear message and a box to paste the right one', { skip }, async () => {
  await page.navigate(`${apiUrl}/#token=not-the-token`)
  const message = await pageWait<string>(
    'the refusal',
    `document.getElementById('token-form').hidden ? null : ${text('error')} || null`,
  )
  assert.match(message, /401 UNAUTHORIZED/)
  assert.match(message, /api\.token/)
})
