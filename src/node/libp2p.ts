import { createHash } from 'node:crypto'
import { createLibp2p, type Libp2p } from 'libp2p'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify, type Identify } from '@libp2p/identify'
import { ping, type Ping } from '@libp2p/ping'
import { kadDHT, passthroughMapper, removePrivateAddressesMapper, type KadDHT } from '@libp2p/kad-dht'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'
import type { Config } from './config/index.js'
import { VERSION } from '../version.js'
import { protocolPrefix, type PeerGuard } from '../protocols/index.js'
import { noiseCrypto } from './noiseCrypto.js'
import { yamuxWindowAtHalf } from './yamuxWindow.js'
import { corkedTcp } from './tcpCork.js'
import { libp2pLogger } from './libp2pLogger.js'

export type CordexServices = {
  identify: Identify
  ping: Ping
  dht: KadDHT
  pubsub: GossipSub
}

export type CordexLibp2p = Libp2p<CordexServices>

export interface Libp2pComponents {
  privateKey: PrivateKey
  datastore: Datastore
  /** Peers it has banned are neither dialled nor let in until their ban ends (SPEC 2). */
  guard?: Pick<PeerGuard, 'isBanned'>
}

/**
 * Build (not start) the libp2p node of a daemon: TCP, Noise, Yamux, Identify, Ping, Kad-DHT and
 * Gossipsub. SPEC 2: every protocol id carries the network id, so two networks never talk.
 */
export async function buildLibp2p(components: Libp2pComponents, config: Config): Promise<CordexLibp2p> {
  const { p2p } = config
  const prefix = protocolPrefix(config.network) // "cordex/<network>"
  const banned = (peer: PeerId): boolean => components.guard?.isBanned(peer.toString()) ?? false
  yamuxWindowAtHalf()
  return createLibp2p<CordexServices>({
    start: false,
    privateKey: components.privateKey,
    datastore: components.datastore,
    nodeInfo: { name: 'cordex', version: VERSION, userAgent: `cordex/${VERSION}` },
    logger: libp2pLogger(),
    addresses: { listen: p2p.listen, announce: p2p.announce },
    // Every frame written in one turn of the event loop leaves in one socket write (tcpCork.ts).
    transports: [corkedTcp()],
    // The library's crypto with a faster X25519 (noiseCrypto.ts): the same bytes, less CPU per handshake.
    connectionEncrypters: [noise({ crypto: noiseCrypto })],
    // Window updates at half the window, not after every frame (yamuxWindow.ts).
    streamMuxers: [yamux()],
    connectionGater: {
      denyDialPeer: async (peer: PeerId) => banned(peer),
      denyInboundEncryptedConnection: async (peer: PeerId) => banned(peer),
      denyOutboundEncryptedConnection: async (peer: PeerId) => banned(peer),
    },
    connectionManager: {
      maxConnections: p2p.maxConnections,
      inboundConnectionThreshold: p2p.inboundConnectionsPerSecond,
      dialTimeout: p2p.dialTimeoutMs,
    },
    // The connection monitor pings every peer to measure latency (reported by GET /peers) and drops
    // a connection whose ping fails. Its default timeout (5 s at least) is shorter than a ping can
    // take on a host whose cores are saturated (twenty daemons starting on two cores): the monitor
    // then dropped hundreds of healthy connections, and the mesh kept re-forming. A peer that stops
    // answering still goes, within two minutes. Each ping is a new stream, which libp2p records in
    // both peer stores: at its default interval (10 s) the pings were most of what a settled
    // 10-daemon mesh spent above a lone daemon's CPU.
    connectionMonitor: {
      protocolPrefix: prefix,
      pingInterval: 60_000,
      pingTimeout: { minTimeout: 30_000, maxTimeout: 60_000 },
    },
    services: {
      // Identify tells kad-dht which peers serve the DHT, and is not retried: at its default timeout
      // (5 s) a daemon starting while its bootstrap peer was saturated (twenty daemons starting on
      // two cores) never learned that it serves the DHT, kept an empty routing table, and stayed
      // out of the mesh.
      identify: identify({ protocolPrefix: prefix, timeout: 30_000 }),
      // The connection monitor and the DHT both ping on this protocol; with libp2p's default of one
      // outbound stream per connection, their pings collide and the monitor aborts the connection.
      ping: ping({ protocolPrefix: prefix, maxOutboundStreams: 4, maxInboundStreams: 4 }),
      dht: kadDHT({
        protocol: `/${prefix}/kad/1.0.0`,
        // Reachable daemons serve the DHT; libp2p would fall back to client mode on private addresses.
        clientMode: false,
        // The default mapper drops private addresses, which leaves loopback routing tables empty.
        peerInfoMapper: p2p.privateAddrs ? passthroughMapper : removePrivateAddressesMapper,
        kBucketSize: p2p.dht.kBucketSize,
        // kad-dht's own self-query runs at one fixed interval, the slow one of a settled table; the
        // daemon's DhtSelfLookup runs the fast ones while the table fills (dhtSelfLookup.ts).
        querySelfInterval: p2p.dht.querySelfIntervalMs,
        initialQuerySelfInterval: p2p.dht.querySelfIntervalMs,
        allowQueryWithZeroPeers: true,
      }),
      pubsub: gossipsub({
        protocols: [`/${prefix}/meshsub/1.1.0`, `/${prefix}/meshsub/1.0.0`],
        // Every ledger message is signed by its author and checked before it is relayed
        // (ledgerGossip.ts), so gossipsub's own envelope signature was a second signature on each
        // message, signed once and checked by every peer: 8% of a verification devnet daemon's
        // main-thread CPU in a profile. Without it a message is named by its topic and bytes, as in
        // Ethereum's consensus gossip; the sequence number that ends each ledger message keeps a
        // resend a new message.
        globalSignaturePolicy: 'StrictNoSign',
        msgIdFn: gossipMessageId,
        // The ledger's topics may have no subscribers yet on a young network.
        allowPublishToZeroTopicPeers: true,
      }),
    },
  })
}

/** A gossip message's id: SHA-256 of its topic, a zero byte and its data. */
export function gossipMessageId(msg: { topic: string; data: Uint8Array }): Uint8Array {
  return createHash('sha256').update(msg.topic).update(ZERO).update(msg.data).digest()
}
const ZERO = new Uint8Array(1)

/** Peers in the DHT's routing table (the kad-dht object has it; its interface type does not). */
export function routingTableSize(node: CordexLibp2p): number {
  return (node.services.dht as unknown as { routingTable?: { size: number } }).routingTable?.size ?? 0
}
