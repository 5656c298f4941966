// The status page's script: it polls the daemon's JSON API with the bearer token and draws what it
// reads; the prompt box streams a chat completion. No framework, no other origin (see the
// Content-Security-Policy the daemon sends), so the page works offline.
//
// The token comes from the address's fragment (`/#token=...`, which the browser never sends to
// the server), is kept in sessionStorage (this tab only) and taken out of the address bar; or it
// is pasted into the token box.

/* global window, document, location, history, sessionStorage, fetch, URLSearchParams, AbortController,
   TextDecoderStream, setTimeout, clearTimeout -- it runs in a browser */
;(() => {
  'use strict'

  const POLL_MS = 1500
  const TOKEN_KEY = 'cordex.apiToken'
  const $ = (id) => document.getElementById(id)

  /** Thrown for an API answer that is not 2xx, with the API's error code. */
  class ApiError extends Error {
    constructor(status, code, message) {
      super(message)
      this.status = status
      this.code = code
    }
  }

  let token = takeToken()
  let me = null
  let tokenFile = 'api.token'
  let timer = null
  /** Bumped when the token changes: answers to requests made with the old one are dropped. */
  let generation = 0
  let streaming = null

  function takeToken() {
    const params = new URLSearchParams(location.hash.slice(1))
    const given = params.get('token')
    if (given !== null && given !== '') {
      sessionStorage.setItem(TOKEN_KEY, given)
      history.replaceState(null, '', location.pathname + location.search)
    }
    return sessionStorage.getItem(TOKEN_KEY)
  }

  async function api(path, init = {}) {
    if (token === null) throw new ApiError(401, 'UNAUTHORIZED', 'no token yet')
    const res = await fetch(path, {
      ...init,
      headers: { ...init.headers, authorization: `Bearer ${token}` },
      cache: 'no-store',
    })
    if (res.ok) return res
    let code = `HTTP_${res.status}`
    let message = res.statusText
    try {
      const body = await res.json()
      code = body.error?.code ?? code
      message = body.error?.message ?? message
    } catch {
      // Not JSON: keep the status line.
    }
    throw new ApiError(res.status, code, message)
  }

  const getJson = async (path) => (await api(path)).json()

  function showError(text) {
    const box = $('error')
    box.textContent = text
    box.hidden = text === ''
  }

  function askToken(why) {
    generation++
    stopPolling()
    $('token-file').textContent = tokenFile
    $('token-form').hidden = false
    showError(why)
  }

  function short(id, n = 10) {
    if (typeof id !== 'string') return '–'
    return id.length <= n + 4 ? id : `${id.slice(0, 4)}…${id.slice(-n)}`
  }

  function duration(ms) {
    if (ms === null || ms === undefined) return '–'
    const s = Math.round(ms / 1000)
    return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`
  }

  function cell(row, text, cls) {
    const td = document.createElement('td')
    td.textContent = text
    if (cls) td.className = cls
    row.appendChild(td)
    return td
  }

  function drawStatus(s) {
    me = s.peerId
    tokenFile = s.apiTokenFile
    $('peer-id').textContent = s.peerId
    $('network').textContent = s.network
    $('version').textContent = s.version
  }

  function drawPeers(peers) {
    $('peer-count').textContent = `(${peers.length})`
    const body = $('peers')
    body.replaceChildren()
    for (const p of peers) {
      const row = document.createElement('tr')
      row.dataset.peerId = p.peerId
      cell(row, short(p.peerId), 'mono').title = p.peerId
      cell(row, p.direction)
      cell(row, p.latencyMs === null ? '–' : `${p.latencyMs} ms`)
      cell(row, p.agent ?? '–')
      body.appendChild(row)
    }
  }

  function drawChain(head, finality) {
    $('head-height').textContent = String(head.height)
    $('head-hash').textContent = head.hash
    $('head-time').textContent = new Date(head.time).toLocaleTimeString()
    const samples = [...finality.samples].sort((a, b) => a - b)
    $('finality').textContent =
      samples.length === 0
        ? 'every block shown is final (BFT); no proposal of this peer timed yet'
        : `final on commit; this peer's proposals finalized in ${Math.round(samples[Math.floor(samples.length / 2)])} ms (median of ${samples.length})`
    $('validators').textContent = String(head.validators.length)
    $('mempool').textContent = `${head.mempool.txs} txs, ${head.mempool.bytes} bytes`
  }

  function drawRace(race) {
    $('race-epoch').textContent = String(race.epoch)
    $('race-phase').textContent = race.phase
    $('race-left').textContent = race.timeLeftMs === null ? '–' : duration(race.timeLeftMs)
    const next = race.nextRace
    $('race-next').textContent =
      `block ${next.height} (in ${next.inBlocks} blocks${next.etaMs === null ? '' : `, ~${duration(next.etaMs)}`})`
    drawWeights(race.weights)
  }

  /** The weights as a horizontal bar chart in the inline SVG, largest first. */
  function drawWeights(weights) {
    const svg = $('weights')
    const ns = 'http://www.w3.org/2000/svg'
    const entries = Object.entries(weights ?? {})
      .map(([id, w]) => [id, Number(w)])
      .sort((a, b) => b[1] - a[1])
    svg.replaceChildren()
    const rowH = 22
    const width = Math.max(200, svg.clientWidth || 300)
    const labelW = 160
    svg.setAttribute('height', String(Math.max(1, entries.length) * rowH))
    svg.setAttribute('viewBox', `0 0 ${width} ${Math.max(1, entries.length) * rowH}`)
    if (entries.length === 0) {
      const t = document.createElementNS(ns, 'text')
      t.setAttribute('x', '0')
      t.setAttribute('y', '15')
      t.textContent = 'no weights yet (before the first Race)'
      svg.appendChild(t)
      return
    }
    const max = Math.max(...entries.map(([, w]) => w), 1)
    const total = entries.reduce((sum, [, w]) => sum + w, 0)
    entries.forEach(([id, w], i) => {
      const y = i * rowH
      const label = document.createElementNS(ns, 'text')
      label.setAttribute('x', '0')
      label.setAttribute('y', String(y + 15))
      label.textContent = id === me ? `${short(id, 8)} (this)` : short(id, 8)
      const bar = document.createElementNS(ns, 'rect')
      bar.setAttribute('class', id === me ? 'bar me' : 'bar')
      bar.setAttribute('x', String(labelW))
      bar.setAttribute('y', String(y + 4))
      bar.setAttribute('height', String(rowH - 8))
      bar.setAttribute('width', String(Math.max(1, ((width - labelW - 60) * w) / max)))
      const title = document.createElementNS(ns, 'title')
      title.textContent = `${id}: ${w}`
      bar.appendChild(title)
      const value = document.createElementNS(ns, 'text')
      value.setAttribute('x', String(labelW + Math.max(1, ((width - labelW - 60) * w) / max) + 4))
      value.setAttribute('y', String(y + 15))
      value.textContent = total > 0 ? `${((100 * w) / total).toFixed(1)}%` : String(w)
      svg.append(label, bar, value)
    })
  }

  function drawNoRace(message) {
    for (const id of ['race-epoch', 'race-phase', 'race-left', 'race-next']) $(id).textContent = '–'
    $('race-phase').textContent = message
    drawWeights({})
  }

  function drawTasks(tasks) {
    const body = $('tasks')
    body.replaceChildren()
    if (tasks.length === 0) {
      const row = document.createElement('tr')
      cell(row, 'no tasks yet').colSpan = 8
      body.appendChild(row)
      return
    }
    for (const t of tasks) {
      const row = document.createElement('tr')
      row.dataset.taskId = t.taskId
      cell(row, new Date(t.time).toLocaleTimeString())
      cell(row, short(t.taskId, 8), 'mono').title = t.taskId
      cell(row, t.model)
      cell(row, short(t.executor), 'mono executor').title = t.executor
      cell(row, String(t.tokens))
      cell(row, t.cost, 'cost')
      cell(row, t.verification, `verification ${t.verification}`)
      cell(row, `${t.synthetic ? '[synthetic] ' : ''}${t.prompt}`, 'prompt').title = t.prompt
      body.appendChild(row)
    }
  }

  function drawModels(list) {
    const select = $('model')
    const chosen = select.value
    const ids = list.data.map((m) => m.id)
    if (ids.join('\n') === [...select.options].map((o) => o.value).join('\n')) return
    select.replaceChildren(
      ...list.data.map((m) => {
        const o = document.createElement('option')
        o.value = m.id
        o.textContent = `${m.id} (${m.cordex.hosts} hosts)`
        return o
      }),
    )
    if (ids.includes(chosen)) select.value = chosen
  }

  /** One round of polling: every card, each on its own so that one failing route spoils no other. */
  async function refresh(gen) {
    const jobs = [
      getJson('/status').then(drawStatus),
      getJson('/peers').then(drawPeers),
      Promise.all([getJson('/ledger/head'), getJson('/ledger/finality')]).then(([h, f]) => drawChain(h, f)),
      getJson('/race').then(drawRace, (err) => {
        if (err instanceof ApiError && err.code === 'NO_RACE') drawNoRace('this chain runs no Races')
        else throw err
      }),
      getJson('/tasks?limit=10').then((t) => drawTasks(t.data)),
      getJson('/v1/models').then(drawModels),
    ]
    const results = await Promise.allSettled(jobs)
    if (gen !== generation) return false
    const failed = results.filter((r) => r.status === 'rejected').map((r) => r.reason)
    const refused = failed.find((e) => e instanceof ApiError && e.status === 401)
    if (refused !== undefined) {
      sessionStorage.removeItem(TOKEN_KEY)
      token = null
      askToken(
        `The API refused the token (401 UNAUTHORIZED: ${refused.message}). Paste the contents of ` +
          `${tokenFile} here, or open the URL that \`cordex devnet --api\` prints.`,
      )
      return false
    }
    if (failed.length > 0) {
      const e = failed[0]
      showError(
        e instanceof ApiError
          ? `${e.status} ${e.code}: ${e.message}`
          : `The daemon does not answer (${e?.message ?? e}); retrying…`,
      )
    } else {
      showError('')
      $('updated').textContent = new Date().toLocaleTimeString()
    }
    return true
  }

  function stopPolling() {
    if (timer !== null) clearTimeout(timer)
    timer = null
  }

  async function poll() {
    stopPolling()
    const gen = generation
    const again = await refresh(gen)
    if (again && gen === generation) timer = setTimeout(poll, POLL_MS)
  }

  /** Use `given` from now on, and poll with it at once. */
  function useToken(given) {
    generation++
    token = given
    sessionStorage.setItem(TOKEN_KEY, given)
    $('token-form').hidden = true
    showError('')
    void poll()
  }

  /** Send the prompt as a streamed chat completion and show the text as it arrives. */
  async function send(event) {
    event.preventDefault()
    if (streaming !== null) return
    const answer = $('answer')
    const meta = $('answer-meta')
    answer.textContent = ''
    answer.dataset.state = 'streaming'
    delete answer.dataset.taskId
    answer.dataset.chunks = '0'
    meta.textContent = 'waiting for an executor…'
    $('send').disabled = true
    $('stop').disabled = false
    streaming = new AbortController()
    const info = {}
    try {
      const res = await api('/v1/chat/completions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: $('model').value,
          messages: [{ role: 'user', content: $('prompt').value }],
          max_tokens: Number($('max-tokens').value),
          temperature: Number($('temperature').value),
          stream: true,
        }),
        signal: streaming.signal,
      })
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
      let buffer = ''
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        buffer += value
        let end
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          for (const line of block.split('\n')) {
            if (!line.startsWith('data: ')) continue
            const data = line.slice(6)
            if (data === '[DONE]') continue
            const chunk = JSON.parse(data)
            if (chunk.error)
              throw new ApiError(chunk.error.status ?? 500, chunk.error.code, chunk.error.message)
            const piece = chunk.choices?.[0]?.delta?.content ?? ''
            if (piece !== '') {
              answer.textContent += piece
              answer.dataset.chunks = String(Number(answer.dataset.chunks) + 1)
            }
            Object.assign(info, chunk.cordex ?? {})
            meta.textContent = describe(info, false)
          }
        }
      }
      if (info.task_id) answer.dataset.taskId = info.task_id
      meta.textContent = describe(info, true)
      answer.dataset.state = 'done'
    } catch (err) {
      answer.dataset.state = 'error'
      const text =
        err.name === 'AbortError'
          ? 'stopped'
          : err instanceof ApiError
            ? `${err.status} ${err.code}: ${err.message}`
            : String(err.message ?? err)
      meta.textContent = `Failed: ${text}`
      if (err instanceof ApiError && err.status === 401)
        askToken('The API refused the token (401 UNAUTHORIZED).')
    } finally {
      streaming = null
      $('send').disabled = false
      $('stop').disabled = true
    }
  }

  function describe(info, done) {
    const parts = [done ? 'done' : 'streaming…']
    if (info.executor) parts.push(`executor ${short(info.executor)}`)
    if (info.task_id) parts.push(`task ${short(info.task_id, 8)}`)
    if (info.cost) parts.push(`cost ${info.cost}`)
    if (info.verification) parts.push(`verification ${info.verification}`)
    return parts.join(' · ')
  }

  $('prompt-form').addEventListener('submit', send)
  $('stop').addEventListener('click', () => streaming?.abort())
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault()
    const given = $('token-input').value.trim()
    if (given === '') return
    $('token-input').value = ''
    useToken(given)
  })

  // A new token in the fragment (the page opened again with another `#token=`) replaces the old.
  window.addEventListener('hashchange', () => {
    const before = token
    const given = takeToken()
    if (given !== null && given !== before) useToken(given)
  })

  if (token === null)
    askToken('This page needs the API token: open the URL `cordex devnet --api` prints, or paste it.')
  else void poll()
})()
