import { createServer } from 'node:net'

/** A TCP port that is free on 127.0.0.1 right now (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      srv.close(() =>
        addr !== null && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port')),
      )
    })
  })
}
