import type { StatusView } from '../../../node/index.js'
import { table, shortId } from '../../output.js'
import type { Child } from './supervisor.js'

export interface PeerState {
  child: Child
  status?: StatusView
}

/** True when every peer runs and is connected to every other. */
export function allConnected(states: PeerState[]): boolean {
  return states.every((s) => s.child.exit === undefined && (s.status?.peers ?? -1) >= states.length - 1)
}

/** The live table: one row per peer. */
export function render(states: PeerState[]): string {
  const total = states.length
  return table(
    ['PEER', 'PEER ID', 'PID', 'STATE', 'PEERS', 'DHT', 'ADDRESS'],
    states.map(({ child, status }) => [
      `peer-${child.peer.index}`,
      shortId(child.peer.peerId),
      String(child.proc.pid ?? '-'),
      child.exit !== undefined
        ? `exited (${child.exit.signal ?? child.exit.code})`
        : status === undefined
          ? 'starting'
          : 'running',
      status === undefined ? '-' : `${status.peers}/${total - 1}`,
      status === undefined ? '-' : String(status.routingTableSize),
      status?.addrs[0] ?? '',
    ]),
  )
}
