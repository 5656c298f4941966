import type { Socket } from 'node:net'

export interface ConnectionSlotsOptions {
  /** Requests in progress at once; a request over this is refused (the server answers 503). */
  max: number
  /**
   * Connections held open beyond `max`: new connections while the others are young or busy. Past
   * `max + overflow` the oldest idle connection is closed to make room, or, if every one is busy,
   * the new one.
   */
  overflow: number
  /** A connection that has sent no byte after this long is closed, ms. */
  firstByteTimeoutMs: number
  /**
   * A connection with no request in progress is closed to make room only once it has been idle
   * this long, ms (default `firstByteTimeoutMs`): a client that has just connected, or just had an
   * answer, may not have had its (next) request read yet by a busy event loop, and must not be
   * reset for it. A silent connection is closed at its first-byte deadline anyway.
   */
  graceMs?: number
  /** Monotonic clock, ms (default performance.now). */
  now?: () => number
}

interface Slot {
  /** Requests in progress on the connection (more than one when the client pipelines). */
  active: number
  /** When it last had no request in progress: when it opened, or when its last answer was done. */
  idleSince: number
  timer: NodeJS.Timeout
}

/**
 * The connection cap of one listener, kept so that silent or idle connections cannot lock real
 * clients out (Node's own `maxConnections` resets every connection over it, however idle the
 * others are). Over `max` connections, a new one closes the oldest connection that has no request
 * in progress and has been idle longest, once it has had time to send one; a connection that sends nothing is closed after a
 * short deadline. Only when `max` requests are in progress is a new request refused, with a 503.
 */
export class ConnectionSlots {
  private readonly slots = new Map<Socket, Slot>()
  private busy = 0
  private readonly now: () => number
  private readonly graceMs: number

  constructor(private readonly opts: ConnectionSlotsOptions) {
    this.now = opts.now ?? (() => performance.now())
    this.graceMs = opts.graceMs ?? opts.firstByteTimeoutMs
  }

  /** A connection arrived. */
  add(socket: Socket): void {
    if (this.slots.size >= this.opts.max) this.evictIdle(this.now() - this.graceMs)
    if (this.slots.size >= this.opts.max + this.opts.overflow) this.evictIdle(Infinity)
    if (this.slots.size >= this.opts.max + this.opts.overflow) {
      socket.destroy()
      return
    }
    const timer = setTimeout(() => {
      if (socket.bytesRead === 0) socket.destroy()
    }, this.opts.firstByteTimeoutMs)
    timer.unref()
    this.slots.set(socket, { active: 0, idleSince: this.now(), timer })
    socket.once('close', () => {
      const slot = this.slots.get(socket)
      if (slot === undefined) return
      clearTimeout(slot.timer)
      if (slot.active > 0) this.busy--
      this.slots.delete(socket)
    })
  }

  /**
   * A request arrived on `socket`. Returns false, and counts nothing, when `max` requests are
   * already in progress on other connections; else the caller must call `end` when its response
   * is done.
   */
  begin(socket: Socket): boolean {
    const slot = this.slots.get(socket)
    if (slot === undefined) return false
    if (slot.active === 0) {
      if (this.busy >= this.opts.max) return false
      this.busy++
    }
    slot.active++
    return true
  }

  end(socket: Socket): void {
    const slot = this.slots.get(socket)
    if (slot === undefined || slot.active === 0) return
    slot.active--
    if (slot.active > 0) return
    this.busy--
    slot.idleSince = this.now()
  }

  /** Close the connection idle longest, if it has been idle since before `before`. */
  private evictIdle(before: number): void {
    let oldest: [Socket, Slot] | undefined
    for (const entry of this.slots) {
      const slot = entry[1]
      if (
        slot.active === 0 &&
        slot.idleSince < before &&
        slot.idleSince < (oldest?.[1].idleSince ?? Infinity)
      ) {
        oldest = entry
      }
    }
    if (oldest === undefined) return
    const [socket, slot] = oldest
    clearTimeout(slot.timer)
    this.slots.delete(socket)
    socket.destroy()
  }
}
