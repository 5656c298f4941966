import type { Logger } from '../../util/logger.js'
import { getHost, getInferenceParams, type HostAnnounceBody } from '../../ledger/index.js'
import type { ChainService } from '../chain/service.js'

/** Blocks to wait for an announcement to land before sending it again. */
const RESEND_BLOCKS = 20

/**
 * Keeps this host's HostAnnounce on the ledger current (SPEC 2, 5.1): the models it serves, its
 * engine fingerprint, its addresses and its price vote. Checked after every block; sent when the
 * record is missing or differs, and again if it has not landed after a while. A daemon whose engine
 * is off announces no models, so that no gateway draws it. Only models the chain has approved are
 * announced (SPEC 7): one that waits for its vote is announced after the block that approves it.
 */
export class HostAnnouncer {
  private sentAt = -Infinity
  /** The models last sent: a change (a model approved since) is sent without waiting to resend. */
  private sentModels = ''
  private readonly onCommit = (): void => this.check()

  constructor(
    private readonly components: { chain: ChainService; log: Logger; me: string },
    private readonly desired: () => HostAnnounceBody,
  ) {}

  start(): void {
    this.components.chain.onCommit(this.onCommit)
    this.check()
  }

  stop(): void {
    this.components.chain.offCommit(this.onCommit)
  }

  private check(): void {
    const { chain, log } = this.components
    const height = chain.replica.head.height
    const state = chain.replica.state
    const desired = this.desired()
    const approved = new Set(getInferenceParams(state)?.models.map(([m]) => m) ?? [])
    const want = { ...desired, models: desired.models.filter((m) => approved.has(m)) }
    const have = getHost(state, this.components.me)
    // A peer that hosts nothing needs no record; one that stopped hosting withdraws its models.
    if (have === undefined && want.models.length === 0) return
    const same =
      have !== undefined &&
      have.fingerprint === want.fingerprint &&
      have.priceVote === want.priceVote &&
      JSON.stringify(have.models) === JSON.stringify(want.models) &&
      JSON.stringify(have.addrs) === JSON.stringify(want.addrs)
    const models = want.models.join(',')
    if (same || (models === this.sentModels && height - this.sentAt < RESEND_BLOCKS)) return
    this.sentModels = models
    try {
      chain.sendTx('HostAnnounce', want)
      this.sentAt = height
      log.info({ models: want.models }, 'host announced')
    } catch (err) {
      this.sentAt = height
      log.warn({ err: (err as Error).message }, 'cannot announce this host')
    }
  }
}
