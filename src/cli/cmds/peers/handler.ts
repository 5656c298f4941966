import type { PeerView } from '../../../node/index.js'
import { callDaemon } from '../../client.js'
import { printJson, table, duration } from '../../output.js'
import type { GlobalArgs } from '../../options.js'

export async function peersHandler(args: GlobalArgs): Promise<void> {
  const peers = await callDaemon<PeerView[]>(args.dataDir, '/peers')
  if (args.json) {
    printJson(peers)
    return
  }
  if (peers.length === 0) {
    console.log('no connected peers')
    return
  }
  const now = Date.now()
  console.log(
    table(
      ['PEER ID', 'LATENCY', 'DIR', 'CONNECTED', 'ADDRESS', 'AGENT'],
      peers.map((p) => [
        p.peerId,
        p.latencyMs === null ? '-' : `${p.latencyMs} ms`,
        p.direction === 'inbound' ? 'in' : 'out',
        duration(now - Date.parse(p.connectedSince)),
        p.addrs[0] ?? '',
        p.agent ?? '',
      ]),
    ),
  )
}
