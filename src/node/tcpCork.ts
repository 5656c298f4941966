// One socket write per turn of the event loop, not one per frame.
//
// @libp2p/tcp writes every buffer it is given with its own `socket.write`, and Node sends each at
// once: a system call, and on loopback the receiver's wake-up, per buffer. Above it each Yamux
// frame is its own Noise frame, so a streamed completion cost the executor a write per token and
// stream, and in a CPU profile of bench:infer's throughput runs those writes were a sixth of the
// executor's main thread. Node's own HTTP server does what this does: cork the socket at the first
// write of a turn and uncork it on the next tick, so everything written in between (the frames of
// every stream that made progress in that turn) leaves in one `writev`. Nothing waits for a timer:
// the data goes before the event loop next polls.
import { Socket } from 'node:net'
import { tcp, type TCPOptions } from '@libp2p/tcp'
import type { MultiaddrConnection, Transport, Upgrader } from '@libp2p/interface'

type TcpComponents = Parameters<ReturnType<typeof tcp>>[0]

/** The fields of @libp2p/tcp's connection this uses (its class is not exported). */
interface SocketConnection {
  socket?: unknown
  sendData(data: unknown): unknown
}

/** libp2p's TCP transport whose connections cork their socket for the rest of each turn. */
export function corkedTcp(init: TCPOptions = {}): (components: TcpComponents) => Transport {
  return (components) => {
    const transport = tcp(init)(components)
    const dial = transport.dial.bind(transport)
    const createListener = transport.createListener.bind(transport)
    transport.dial = async (ma, options) => dial(ma, { ...options, upgrader: corking(options.upgrader) })
    transport.createListener = (options) =>
      createListener({ ...options, upgrader: corking(options.upgrader) })
    return transport
  }
}

/** The upgrader, with each raw connection corked per turn before it is upgraded. */
function corking(upgrader: Upgrader): Upgrader {
  return new Proxy(upgrader, {
    get(target, key, receiver) {
      if (key === 'upgradeInbound' || key === 'upgradeOutbound') {
        const upgrade = Reflect.get(target, key, receiver) as (
          maConn: MultiaddrConnection,
          ...rest: unknown[]
        ) => Promise<unknown>
        return (maConn: MultiaddrConnection, ...rest: unknown[]) => {
          corkPerTurn(maConn as unknown as SocketConnection)
          return upgrade.call(target, maConn, ...rest)
        }
      }
      return Reflect.get(target, key, receiver) as unknown
    },
  })
}

/** Cork the connection's socket at its first write of a turn; uncork it on the next tick. */
function corkPerTurn(conn: SocketConnection): void {
  const { socket } = conn
  if (!(socket instanceof Socket)) {
    throw new Error('@libp2p/tcp: a connection has no net.Socket in `socket`; see tcpCork.ts')
  }
  const send = conn.sendData.bind(conn)
  let corked = false
  const uncork = (): void => {
    corked = false
    socket.uncork()
  }
  conn.sendData = (data: unknown) => {
    if (!corked) {
      corked = true
      socket.cork()
      process.nextTick(uncork)
    }
    return send(data)
  }
}
