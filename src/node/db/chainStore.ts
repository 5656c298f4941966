import type { Level } from 'level'
import {
  CodecError,
  encode,
  decode,
  read,
  State,
  type StateChanges,
  type Head,
  type TxRegistry,
} from '../../ledger/index.js'
import {
  decodeBlock,
  decodeCommit,
  encodeBlock,
  encodeCommit,
  blockHash,
  type Block,
  type BlockLimits,
  type Commit,
} from '../../ledger/index.js'
import { Repository, heightKey, type Sub } from './repository.js'

/** Where a transaction landed, and why it failed if it did (it still paid its fee). */
export interface TxResult {
  height: number
  error?: { code: string; message: string }
}

interface StoredHead {
  height: number
  hash: Uint8Array
  time: number
}

/**
 * SPEC 3.4: the chain on LevelDB, one sublevel per kind of record: blocks and their commits by
 * height, the transaction index, state entries, and the head pointer. A block, its commit, its
 * state changes and the new head go in one atomic batch, so after a crash at any instant the
 * store holds exactly the blocks that were committed, and state that matches the head.
 */
export class ChainStore {
  readonly blocks: Repository<number, Block>
  readonly commits: Repository<number, Commit>
  readonly txIndex: Repository<string, TxResult>
  readonly state: Repository<string, Uint8Array>
  private readonly meta: Repository<string, StoredHead>

  constructor(
    private readonly db: Level<string, Uint8Array>,
    registry: TxRegistry,
    limits: BlockLimits,
  ) {
    const sub = (name: string): Sub =>
      db.sublevel<string, Uint8Array>(name, { valueEncoding: 'view' }) as unknown as Sub
    this.blocks = new Repository(sub('blocks'), heightKey, encodeBlock, (b) =>
      decodeBlock(b, registry, limits),
    )
    this.commits = new Repository(sub('commits'), heightKey, encodeCommit, (b) =>
      decodeCommit(b, limits.maxValidators),
    )
    this.txIndex = new Repository(
      sub('txindex'),
      (h) => h,
      (r: TxResult) => encode([r.height, r.error?.code ?? null, r.error?.message ?? null]),
      (b) => {
        const [h, code, message] = read.array(decode(b, 2048, 'tx index'), 3, 'tx index')
        const height = read.uint(h, 'height')
        if (code === null && message !== null)
          throw new CodecError('BAD_SHAPE', 'tx index: a message without a code', { what: 'tx index' })
        return code === null
          ? { height }
          : {
              height,
              error: { code: read.string(code, 64, 'code'), message: read.string(message, 1024, 'message') },
            }
      },
    )
    this.state = new Repository(
      sub('state'),
      (k) => k,
      (v) => v,
      (v) => v,
    )
    this.meta = new Repository(
      sub('meta'),
      (k) => k,
      (h) => encode([h.height, h.hash, h.time]),
      (b) => {
        const [height, hash, time] = read.array(decode(b, 128, 'head'), 3, 'head')
        return {
          height: read.uint(height, 'height'),
          hash: read.bytes(hash, 'hash', 32),
          time: read.uint(time, 'time'),
        }
      },
    )
  }

  /** The last committed block's height, hash, time and commit; undefined for an empty store. */
  async head(): Promise<Head | undefined> {
    const h = await this.meta.get('head')
    if (h === undefined) return undefined
    return { ...h, commit: h.height === 0 ? null : ((await this.commits.get(h.height)) ?? null) }
  }

  async loadState(): Promise<State> {
    const entries: Array<[string, Uint8Array]> = []
    for await (const e of this.state.entries()) entries.push(e)
    return State.fromEncoded(entries)
  }

  /** Write the genesis state and a head at height 0, once, in one batch. */
  async initGenesis(changes: StateChanges, genesisHash: Uint8Array, time: number): Promise<void> {
    await this.db.batch([
      ...stateOps(this.state, changes),
      this.meta.put('head', { height: 0, hash: genesisHash, time }),
    ] as never)
  }

  /**
   * Commit one block atomically: block, commit, transaction index (with the error of each
   * transaction that was included but failed), state changes, head.
   */
  async commitBlock(
    block: Block,
    commit: Commit,
    changes: StateChanges,
    failed: ReadonlyMap<string, { code: string; message: string }> = new Map(),
  ): Promise<void> {
    const h = block.header.height
    await this.db.batch([
      this.blocks.put(h, block),
      this.commits.put(h, commit),
      ...block.txs.map((t) => {
        const error = failed.get(t.hashHex)
        return this.txIndex.put(
          t.hashHex,
          error === undefined
            ? { height: h }
            : { height: h, error: { code: error.code, message: error.message.slice(0, 1024) } },
        )
      }),
      ...stateOps(this.state, changes),
      this.meta.put('head', { height: h, hash: blockHash(block.header), time: block.header.time }),
    ] as never)
  }
}

function stateOps(repo: Repository<string, Uint8Array>, changes: StateChanges): unknown[] {
  return changes.map(([k, v]) => (v === null ? repo.del(k) : repo.putBytes(k, v)))
}
