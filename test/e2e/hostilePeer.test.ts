import '../../src/polyfill.js'
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import http from 'node:http'
import { MemoryDatastore } from 'datastore-core'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { tempDir, cordexJson, waitFor } from '../helpers/cli.js'
import { startDevnet } from '../helpers/devnet.js'
import { loadConfig } from '../../src/node/config/index.js'
import { buildLibp2p } from '../../src/node/libp2p.js'
import { topicName } from '../../src/protocols/ids.js'
import { frameGossip } from '../../src/protocols/ledgerGossip.js'
import { encodeVote, signVote, VoteType } from '../../src/ledger/consensus/vote.js'
import { signerFromSeed } from '../../src/ledger/crypto.js'

interface Head {
  height: number
  hash: string
}

/**
 * Issue 9, item 1: a peer that is not a validator signs a prevote for height 2^53 - 1 with its own
 * key and publishes it on the vote topic. Before the fix every node took it as "the network is at
 * 2^53 - 1" for good, and a node that fell behind afterwards never caught up. Now the vote is never
 * taken; the votes that the stranger sends for the next height are rejected, which gets it banned;
 * and a validator stopped for a while catches up over sync when it resumes.
 */
test('a forged far-future vote neither stalls catch-up nor stays connected', async () => {
  const dir = tempDir()
  const base = join(dir.path, 'net')
  const devnet = await startDevnet(base, 4)
  const dirs = [0, 1, 2, 3].map((i) => join(base, `peer-${i}`))
  const config = loadConfig({ dataDir: dirs[0]! })
  const attackerKey = await generateKeyPair('Ed25519')
  const attacker = await buildLibp2p(
    { privateKey: attackerKey, datastore: new MemoryDatastore() },
    { ...config, p2p: { ...config.p2p, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [] } },
  )
  after(async () => {
    await attacker.stop()
    await devnet.stop()
    dir.cleanup()
  })
  await attacker.start()
  const victim = devnet.peers[0]!
  await attacker.dial(multiaddr(`${victim.addrs[0]!.split('/p2p/')[0]}/p2p/${victim.peerId}`))
  const topic = topicName(config.network, `${config.genesis.chainId}/vote`)
  attacker.services.pubsub.subscribe(topic)
  await waitFor('the attacker in the vote mesh', async () =>
    attacker.services.pubsub.getSubscribers(topic).length > 0 ? true : undefined,
  )

  // The attacker's own key, as its ledger identity: a valid signature from someone with no right to vote.
  const signer = signerFromSeed(attackerKey.raw.subarray(0, 32))
  // Framed as every ledger gossip message is (its publisher's sequence number at the end), so that
  // what the victim refuses is the vote itself, not its framing.
  let seqno = 0n
  const forged = (height: number, round = 0): Uint8Array =>
    frameGossip(
      encodeVote(
        signVote(config.genesis.chainId, signer, { type: VoteType.Prevote, height, round, blockHash: null }),
      ),
      seqno++,
    )
  await attacker.services.pubsub.publish(topic, forged(Number.MAX_SAFE_INTEGER))

  // Item 5: a HostAnnounce whose fingerprint begins with U+FEFF, sent through the API, lands, and
  // so does the node's next transaction (before, no peer could decode it and every later nonce
  // of the node queued behind it for good).
  const announced = await post(join(dirs[1]!, 'cordex.sock'), '/tx', {
    type: 'HostAnnounce',
    body: { models: [], priceVote: '1', fingerprint: '\ufeffort/1.30', addrs: [] },
  })
  assert.equal(announced.status, 200, JSON.stringify(announced.body))
  const sent = await cordexJson<{ status: string }>([
    'tx',
    'transfer',
    '--to',
    devnet.peers[0]!.peerId,
    '--amount',
    '1',
    '--data-dir',
    dirs[1]!,
  ])
  assert.equal(sent.status, 'committed')

  // Validator 3 stops (SIGSTOP) while the other three go on, then resumes: it must catch up.
  const stopped = devnet.peers[3]!.pid
  const head = async (d: string): Promise<number> =>
    (await cordexJson<Head>(['ledger', 'head', '--data-dir', d])).height
  process.kill(stopped, 'SIGSTOP')
  const pausedAt = await head(dirs[0]!)
  try {
    await waitFor('three validators to go on', async () =>
      (await head(dirs[0]!)) >= pausedAt + 8 ? true : undefined,
    )
  } finally {
    process.kill(stopped, 'SIGCONT')
  }
  const target = await head(dirs[0]!)
  await waitFor(
    'the resumed validator to catch up',
    async () => ((await head(dirs[3]!)) >= target ? true : undefined),
    90_000,
  )

  // Votes from a stranger for the height being decided are rejected: enough of them ban it. The
  // head is read over the socket, not with the CLI, which can take longer than a block on a loaded
  // machine (a vote for a height already decided is ignored, not rejected); a few rounds each time.
  const socket = join(dirs[0]!, 'cordex.sock')
  for (let i = 0; i < 30 && attacker.getConnections().length > 0; i++) {
    const next = ((await request(socket, 'GET', '/ledger/head')).body as Head).height + 1
    for (let round = 0; round < 3; round++)
      await attacker.services.pubsub.publish(topic, forged(next, 3 * i + round)).catch(() => {})
    await new Promise((r) => setTimeout(r, 100))
  }
  await waitFor('the attacker to be cut off', async () =>
    attacker.getConnections().length === 0 ? true : undefined,
  )
  const log = readFileSync(join(dirs[0]!, 'daemon.log'), 'utf8')
  assert.match(log, new RegExp(`"peer":"${attacker.peerId.toString()}".*"msg":"peer banned"`))
  // Banned means kept out: the victim drops a new connection as soon as it knows who is calling.
  await attacker
    .dial(multiaddr(`${victim.addrs[0]!.split('/p2p/')[0]}/p2p/${victim.peerId}`))
    .catch(() => undefined)
  await waitFor('the new connection to be refused', async () =>
    attacker.getConnections().length === 0 ? true : undefined,
  )
})

const post = (socketPath: string, path: string, body: unknown): Promise<{ status: number; body: unknown }> =>
  request(socketPath, 'POST', path, body)

function request(
  socketPath: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath, path, method, headers: { 'content-type': 'application/json' } },
      (res) => {
        let data = ''
        res.on('data', (d: Buffer) => (data += d.toString()))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(data) as unknown }))
      },
    )
    req.on('error', reject)
    req.end(JSON.stringify(body))
  })
}
