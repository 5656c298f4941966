import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import type { Readable, Writable } from 'node:stream'
import { exited } from './cli.js'

/** Where Debian's (and others') Chromium may be; `CHROMIUM` names another. */
const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']

/** The headless browser's executable, or null when none is installed. */
export function findChromium(): string | null {
  const given = process.env.CHROMIUM
  if (given !== undefined && given !== '') return existsSync(given) ? given : null
  return CANDIDATES.find((c) => existsSync(c)) ?? null
}

interface Pending {
  resolve: (v: Record<string, unknown>) => void
  reject: (e: Error) => void
  method: string
}

/**
 * Headless Chromium driven over the Chrome DevTools Protocol on a pipe (`--remote-debugging-pipe`:
 * commands on its fd 3, answers and events on its fd 4, each a JSON message ended by a NUL byte),
 * so a test needs no WebSocket client. Every command times out.
 */
export class Browser {
  private nextId = 1
  private readonly pending = new Map<number, Pending>()
  private readonly listeners = new Set<(msg: Record<string, unknown>) => void>()
  private stderr = ''

  private constructor(
    private readonly proc: ChildProcess,
    private readonly input: Writable,
  ) {
    let buffer = Buffer.alloc(0)
    const output = proc.stdio[4] as Readable
    output.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk])
      let end: number
      while ((end = buffer.indexOf(0)) !== -1) {
        const msg = JSON.parse(buffer.subarray(0, end).toString('utf8')) as Record<string, unknown>
        buffer = buffer.subarray(end + 1)
        this.dispatch(msg)
      }
    })
    proc.stderr?.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)))
    proc.once('exit', () => {
      for (const p of this.pending.values()) p.reject(new Error(`chromium exited: ${this.stderr}`))
      this.pending.clear()
    })
  }

  /** Start the browser with a profile in `userDataDir`; `--no-sandbox` as tests may run as root. */
  static async launch(executable: string, userDataDir: string): Promise<Browser> {
    const proc = spawn(
      executable,
      [
        '--headless=new',
        '--remote-debugging-pipe',
        `--user-data-dir=${userDataDir}`,
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--no-first-run',
        '--no-default-browser-check',
        '--disable-extensions',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--window-size=1280,1100',
        'about:blank',
      ],
      { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
    )
    const browser = new Browser(proc, proc.stdio[3] as Writable)
    await browser.send('Browser.getVersion', {}, undefined, 30_000)
    return browser
  }

  /** Send a command (to a page when `sessionId` is given) and wait for its answer. */
  send(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
    timeoutMs = 15_000,
  ): Promise<Record<string, unknown>> {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`CDP ${method} timed out`))
      }, timeoutMs)
      this.pending.set(id, {
        method,
        resolve: (v) => {
          clearTimeout(timer)
          resolve(v)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      })
      this.input.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`)
    })
  }

  /** Call `fn` with every event (an answer-less message) until the returned function is called. */
  onEvent(fn: (msg: Record<string, unknown>) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  /** A new tab, attached. */
  async newPage(): Promise<Page> {
    const { targetId } = (await this.send('Target.createTarget', { url: 'about:blank' })) as {
      targetId: string
    }
    const { sessionId } = (await this.send('Target.attachToTarget', { targetId, flatten: true })) as {
      sessionId: string
    }
    const page = new Page(this, sessionId)
    await page.send('Page.enable')
    await page.send('Runtime.enable')
    return page
  }

  /** Close the browser: politely, then SIGKILL after a moment. */
  async close(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 3000)
    this.send('Browser.close', {}, undefined, 3000).catch(() => this.proc.kill('SIGKILL'))
    await exited(this.proc)
    clearTimeout(timer)
  }

  private dispatch(msg: Record<string, unknown>): void {
    if (typeof msg.id === 'number') {
      const p = this.pending.get(msg.id)
      if (p === undefined) return
      this.pending.delete(msg.id)
      const error = msg.error as { message: string } | undefined
      if (error !== undefined) p.reject(new Error(`CDP ${p.method}: ${error.message}`))
      else p.resolve((msg.result ?? {}) as Record<string, unknown>)
      return
    }
    for (const fn of this.listeners) fn(msg)
  }
}

/** One tab of the Browser. */
export class Page {
  constructor(
    private readonly browser: Browser,
    readonly sessionId: string,
  ) {}

  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return this.browser.send(method, params, this.sessionId)
  }

  async navigate(url: string): Promise<void> {
    const r = (await this.send('Page.navigate', { url })) as { errorText?: string }
    if (r.errorText !== undefined) throw new Error(`navigation to ${url} failed: ${r.errorText}`)
  }

  /** The value of a JavaScript expression in the page (awaited when it is a promise). */
  async evaluate<T>(expression: string): Promise<T> {
    const r = (await this.send('Runtime.evaluate', {
      expression,
      returnByValue: true,
      awaitPromise: true,
    })) as {
      result: { value?: T }
      exceptionDetails?: { text: string; exception?: { description?: string } }
    }
    if (r.exceptionDetails !== undefined) {
      throw new Error(
        `evaluate failed: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`,
      )
    }
    return r.result.value as T
  }

  /** Type `text` into the element `selector` as a user would (focus, then key input). */
  async type(selector: string, text: string): Promise<void> {
    await this.evaluate(`document.querySelector(${JSON.stringify(selector)}).focus()`)
    await this.send('Input.insertText', { text })
  }

  /** Click the middle of the element `selector` with the mouse. */
  async click(selector: string): Promise<void> {
    const { x, y } = await this.evaluate<{ x: number; y: number }>(
      `(() => { const el = document.querySelector(${JSON.stringify(selector)}); el.scrollIntoView();
        const r = el.getBoundingClientRect(); return { x: r.left + r.width / 2, y: r.top + r.height / 2 } })()`,
    )
    for (const type of ['mousePressed', 'mouseReleased']) {
      await this.send('Input.dispatchMouseEvent', { type, x, y, button: 'left', clickCount: 1 })
    }
  }

  /** A PNG of the whole page. */
  async screenshot(): Promise<Buffer> {
    const metrics = (await this.send('Page.getLayoutMetrics')) as {
      cssContentSize: { width: number; height: number }
    }
    const { width, height } = metrics.cssContentSize
    const r = (await this.send('Page.captureScreenshot', {
      format: 'png',
      captureBeyondViewport: true,
      clip: { x: 0, y: 0, width: Math.ceil(width), height: Math.ceil(height), scale: 1 },
    })) as { data: string }
    return Buffer.from(r.data, 'base64')
  }
}
