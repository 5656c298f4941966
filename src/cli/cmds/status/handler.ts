import type { StatusView } from '../../../node/index.js'
import { callDaemon } from '../../client.js'
import { printJson, duration } from '../../output.js'
import type { GlobalArgs } from '../../options.js'

export async function statusHandler(args: GlobalArgs): Promise<void> {
  const s = await callDaemon<StatusView>(args.dataDir, '/status')
  if (args.json) {
    printJson(s)
    return
  }
  console.log(
    [
      `peer id      ${s.peerId}`,
      `network      ${s.network}`,
      `version      ${s.version}`,
      `pid          ${s.pid}`,
      `uptime       ${duration(s.uptimeMs)}`,
      `peers        ${s.peers} connected (${s.connections} connections), ${s.routingTableSize} in the DHT routing table`,
      `socket       ${s.socket}`,
      `api          ${s.apiUrl === null ? 'off' : `${s.apiUrl} (bearer token in ${s.apiTokenFile})`}`,
      `addresses    ${s.addrs.join('\n             ')}`,
    ].join('\n'),
  )
}
