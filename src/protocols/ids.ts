/** `cordex/<network>`: the prefix of every libp2p protocol id a daemon speaks (SPEC 2). */
export function protocolPrefix(network: string): string {
  return `cordex/${network}`
}

/** `/cordex/<network>/<name>/<version>` for a Cordex request/response protocol. */
export function protocolId(network: string, name: string, version = '1.0.0'): string {
  return `/${protocolPrefix(network)}/${name}/${version}`
}

/** Gossip topic `/cordex/<network>/<name>` (transactions, proposals, votes). */
export function topicName(network: string, name: string): string {
  return `/${protocolPrefix(network)}/${name}`
}
