// The least that a gateway and an executor in processes of their own add to the time to first token
// on this machine, with no work done at all: a client's HTTP POST to a relay process, one TCP
// message from there to an answering process, which sends it straight back, and the relay's reply
// to the client as a server-sent event. The same hops as a task's way to its first token (client →
// gateway → executor → gateway → client), without TLS-like encryption, framing, ledger or
// tokenizing. `bench:infer network` prints it beside the request path's measured overhead.
//
// Run as a child of itself: `node hopFloor.js answer` and `node hopFloor.js relay <port>` print
// the port they listen on, on 127.0.0.1, and run until killed.
import http from 'node:http'
import net from 'node:net'
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { summarize, type Percentiles } from './stats.js'

function listen(server: net.Server): void {
  server.listen(0, '127.0.0.1', () => console.log((server.address() as net.AddressInfo).port))
}

function answer(): void {
  listen(
    net.createServer((s) => {
      s.setNoDelay(true)
      s.on('data', (d) => s.write(d))
    }),
  )
}

/** Each POST sends one byte to the answering process, and its echo ends the POST with one event. */
function relay(port: number): void {
  const up = net.connect(port, '127.0.0.1')
  up.setNoDelay(true)
  const waiting: Array<() => void> = []
  up.on('data', (d: Buffer) => {
    for (let i = 0; i < d.length; i++) waiting.shift()?.()
  })
  listen(
    http.createServer((req, res) => {
      req.resume()
      req.on('end', () => {
        waiting.push(() => {
          res.writeHead(200, { 'content-type': 'text/event-stream' })
          res.end('data: {"choices":[{"text":"x"}]}\n\n')
        })
        up.write('x')
      })
    }),
  )
}

function start(args: string[]): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  return new Promise((resolve, reject) => {
    proc.once('error', reject)
    proc.once('exit', (code) => reject(new Error(`hopFloor ${args[0]} exited (${code})`)))
    proc.stdout!.once('data', (d: Buffer) => resolve({ proc, port: Number(String(d).trim()) }))
  })
}

/**
 * Time to the first byte of the answer to `samples` POSTs, one at a time, through the two bare
 * processes (after 20 to warm up), in ms.
 */
export async function hopFloor(samples: number, body: string): Promise<Percentiles> {
  const answerer = await start(['answer'])
  try {
    const relayer = await start(['relay', String(answerer.port)])
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    try {
      const one = (): Promise<number> =>
        new Promise((resolve, reject) => {
          const t0 = performance.now()
          const req = http.request(
            { host: '127.0.0.1', port: relayer.port, method: 'POST', path: '/', agent },
            (res) => {
              res.once('data', () => {
                const ms = performance.now() - t0
                res.resume()
                res.once('end', () => resolve(ms))
              })
            },
          )
          req.once('error', reject)
          req.setHeader('content-type', 'application/json')
          req.end(body)
        })
      for (let i = 0; i < 20; i++) await one()
      const xs: number[] = []
      for (let i = 0; i < samples; i++) xs.push(await one())
      return summarize(xs)
    } finally {
      agent.destroy()
      relayer.proc.kill()
    }
  } finally {
    answerer.proc.kill()
  }
}

const [role, port] = process.argv.slice(2)
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (role === 'answer') answer()
  else if (role === 'relay') relay(Number(port))
  else throw new Error(`hopFloor: unknown role ${role}`)
}
