import { toHex, type Signer } from '../crypto.js'
import { blockHash, type Block, type Commit, type Evidence } from '../block.js'
import type { ValidatorSet } from './validatorSet.js'
import { VoteSet } from './voteSet.js'
import { VoteType, signVote, verifyVote, voteKey, type Vote } from './vote.js'
import { signProposal, verifyProposal, type Proposal } from './proposal.js'

export enum Step {
  Propose = 1,
  Prevote = 2,
  Precommit = 3,
  Decided = 4,
}

/** Rounds beyond the next that one validator's messages may open at a height. */
export const MAX_FUTURE_ROUNDS = 2

/** Round timeouts grow linearly with the round: `base + round * delta` ms. */
export interface Timeouts {
  proposeMs: number
  prevoteMs: number
  precommitMs: number
  deltaMs: number
}

export interface MachineDeps {
  chainId: string
  /** This node's key; null for a node that follows without voting. */
  signer: Signer | null
  validators: ValidatorSet
  proposerOf: (round: number) => string
  /** Build a new block for `round` (called only on this node's turn). */
  propose: (round: number) => Block
  /** Whether a proposed block is valid on top of the committed state (callers cache by hash). */
  isValid: (block: Block) => boolean
  timeouts: Timeouts
}

export type MachineInput =
  | { kind: 'proposal'; proposal: Proposal }
  | { kind: 'vote'; vote: Vote }
  | { kind: 'timeout'; round: number; step: Step }

export type MachineOutput =
  | { kind: 'broadcastProposal'; proposal: Proposal }
  | { kind: 'broadcastVote'; vote: Vote }
  | { kind: 'schedule'; height: number; round: number; step: Step; ms: number }
  | { kind: 'decide'; block: Block; commit: Commit }
  | { kind: 'evidence'; evidence: Evidence }

interface RoundState {
  prevotes: VoteSet
  precommits: VoteSet
  proposal?: Proposal
  /** Guards for the algorithm's "for the first time" rules. */
  prevoteTimeoutSet: boolean
  precommitTimeoutSet: boolean
  lockedOnPolka: boolean
}

/**
 * SPEC 3.3: one height of Tendermint consensus ("The latest gossip on BFT consensus", Buchman,
 * Kwon, Milosevic, Algorithm 1), as a pure state machine fed proposals, votes and timeouts and
 * answering with messages to send, timeouts to schedule and, once, the decision. It never reads a
 * clock or the network; the caller delivers timeouts and loops its own messages back in.
 */
export class HeightMachine {
  round = 0
  step = Step.Propose
  private lockedValue: Block | undefined
  private lockedRound = -1
  private validValue: Block | undefined
  private validRound = -1
  private readonly rounds = new Map<number, RoundState>()
  /** Rounds beyond the next one that each validator's messages opened (see admitRound). */
  private readonly futureRounds = new Map<string, Set<number>>()
  private out: MachineOutput[] = []
  decision: { block: Block; commit: Commit } | undefined

  constructor(
    readonly height: number,
    private readonly deps: MachineDeps,
  ) {}

  /** Enter round 0. */
  start(): MachineOutput[] {
    this.startRound(0)
    this.evaluate()
    return this.flush()
  }

  handle(input: MachineInput): MachineOutput[] {
    if (this.decision !== undefined) return []
    switch (input.kind) {
      case 'proposal':
        this.onProposal(input.proposal)
        break
      case 'vote':
        this.onVote(input.vote)
        break
      case 'timeout':
        this.onTimeout(input.round, input.step)
        break
    }
    this.evaluate()
    return this.flush()
  }

  /** Rounds of this height that hold state (messages or timers). */
  get openRounds(): number {
    return this.rounds.size
  }

  /**
   * What to send again for liveness: our proposal (with the polka behind it, if it is a
   * re-proposal) and our votes of the current and previous rounds.
   */
  resend(): MachineOutput[] {
    const me = this.deps.signer?.peerId
    if (me === undefined) return []
    const out: MachineOutput[] = []
    const rs = this.rounds.get(this.round)
    if (rs?.proposal !== undefined && rs.proposal.proposer === me)
      out.push({ kind: 'broadcastProposal', proposal: rs.proposal })
    // A re-proposal is only voted for by those who saw the polka of its valid round (lines
    // 28-33): send that polka again, as CometBFT's reactor gossips a proposal's POL prevotes.
    const p = rs?.proposal
    if (p !== undefined && p.validRound >= 0) {
      const key = toHex(blockHash(p.block.header))
      const pol = this.rounds.get(p.validRound)?.prevotes
      if (pol?.quorumKey() === key)
        for (const v of pol.votesFor(key)) out.push({ kind: 'broadcastVote', vote: v })
    }
    // The previous round's votes too: a peer still in it needs our precommit to time out of it.
    for (const r of [this.round - 1, this.round]) {
      const st = this.rounds.get(r)
      if (st === undefined) continue
      for (const set of [st.prevotes, st.precommits]) {
        for (const v of set.all()) if (v.validator === me) out.push({ kind: 'broadcastVote', vote: v })
      }
    }
    return out
  }

  private rs(round: number): RoundState {
    let r = this.rounds.get(round)
    if (r === undefined) {
      r = {
        prevotes: new VoteSet(this.deps.validators),
        precommits: new VoteSet(this.deps.validators),
        prevoteTimeoutSet: false,
        precommitTimeoutSet: false,
        lockedOnPolka: false,
      }
      this.rounds.set(round, r)
    }
    return r
  }

  private flush(): MachineOutput[] {
    const out = this.out
    this.out = []
    return out
  }

  private startRound(round: number): void {
    this.round = round
    this.step = Step.Propose
    const me = this.deps.signer
    if (me !== null && this.deps.proposerOf(round) === me.peerId) {
      const block = this.validValue ?? this.deps.propose(round)
      const proposal = signProposal(this.deps.chainId, me, {
        height: this.height,
        round,
        validRound: this.validRound,
        block,
      })
      this.out.push({ kind: 'broadcastProposal', proposal })
      this.onProposal(proposal)
    } else {
      this.schedule(round, Step.Propose, this.deps.timeouts.proposeMs)
    }
  }

  private schedule(round: number, step: Step, base: number): void {
    this.out.push({
      kind: 'schedule',
      height: this.height,
      round,
      step,
      ms: base + round * this.deps.timeouts.deltaMs,
    })
  }

  /**
   * Whether `validator` may open state for `round`. The current and next rounds are open to all;
   * beyond them, each validator may bring in at most MAX_FUTURE_ROUNDS rounds of its own (as
   * CometBFT's peerCatchupRounds), so a validator that signs messages for millions of rounds
   * cannot make this height's state, or the work of `evaluate`, grow without bound. Honest
   * validators that are ahead still move us: line 55 needs a third of the power in one round.
   */
  private admitRound(validator: string, round: number): boolean {
    if (round <= this.round + 1 || this.rounds.has(round)) return true
    const mine = this.futureRounds.get(validator) ?? new Set<number>()
    for (const r of mine) if (r <= this.round + 1) mine.delete(r)
    if (mine.size >= MAX_FUTURE_ROUNDS) return false
    mine.add(round)
    this.futureRounds.set(validator, mine)
    return true
  }

  private onProposal(p: Proposal): void {
    if (p.height !== this.height || p.validRound >= p.round) return
    if (p.proposer !== this.deps.proposerOf(p.round)) return
    if (!this.admitRound(p.proposer, p.round)) return
    const rs = this.rs(p.round)
    if (rs.proposal !== undefined) return
    if (!verifyProposal(this.deps.chainId, p)) return
    rs.proposal = p
  }

  private onVote(v: Vote): void {
    if (v.height !== this.height || !this.deps.validators.has(v.validator)) return
    if (!verifyVote(this.deps.chainId, v)) return
    if (!this.admitRound(v.validator, v.round)) return
    const rs = this.rs(v.round)
    const set = v.type === VoteType.Prevote ? rs.prevotes : rs.precommits
    const { conflict } = set.add(v)
    if (conflict !== undefined) this.out.push({ kind: 'evidence', evidence: { a: conflict, b: v } })
  }

  private onTimeout(round: number, step: Step): void {
    if (round !== this.round) return
    if (step === Step.Propose && this.step === Step.Propose) this.vote(VoteType.Prevote, null)
    else if (step === Step.Prevote && this.step === Step.Prevote) this.vote(VoteType.Precommit, null)
    else if (step === Step.Precommit) this.startRound(round + 1)
  }

  private vote(type: VoteType, block: Block | null): void {
    this.step = type === VoteType.Prevote ? Step.Prevote : Step.Precommit
    const me = this.deps.signer
    if (me === null || !this.deps.validators.has(me.peerId)) return
    const vote = signVote(this.deps.chainId, me, {
      type,
      height: this.height,
      round: this.round,
      blockHash: block === null ? null : blockHash(block.header),
    })
    this.out.push({ kind: 'broadcastVote', vote })
    this.onVote(vote)
  }

  private valid(p: Proposal | undefined): p is Proposal {
    return p !== undefined && this.deps.isValid(p.block)
  }

  /** Apply every rule of Algorithm 1 whose condition holds, until none does. */
  private evaluate(): void {
    for (let changed = true; changed && this.decision === undefined;) {
      changed = false
      const r = this.round
      const rs = this.rs(r)
      const p = rs.proposal
      const pKey = p === undefined ? undefined : toHex(blockHash(p.block.header))

      // Lines 22-27: a fresh proposal in the propose step.
      if (this.step === Step.Propose && p !== undefined && p.validRound === -1) {
        const ok = this.valid(p) && (this.lockedRound === -1 || this.sameAsLocked(p.block))
        this.vote(VoteType.Prevote, ok ? p.block : null)
        changed = true
        continue
      }
      // Lines 28-33: a re-proposal backed by a polka from its valid round.
      if (this.step === Step.Propose && p !== undefined && p.validRound >= 0 && p.validRound < r) {
        if (this.rs(p.validRound).prevotes.quorumKey() === pKey) {
          const ok = this.valid(p) && (this.lockedRound <= p.validRound || this.sameAsLocked(p.block))
          this.vote(VoteType.Prevote, ok ? p.block : null)
          changed = true
          continue
        }
      }
      // Lines 34-35: any polka: wait a little longer for a decisive one.
      if (this.step === Step.Prevote && rs.prevotes.hasQuorumAny() && !rs.prevoteTimeoutSet) {
        rs.prevoteTimeoutSet = true
        this.schedule(r, Step.Prevote, this.deps.timeouts.prevoteMs)
      }
      // Lines 36-43: a polka for the proposal: lock and precommit it.
      if (
        this.step >= Step.Prevote &&
        !rs.lockedOnPolka &&
        p !== undefined &&
        rs.prevotes.quorumKey() === pKey &&
        this.valid(p)
      ) {
        rs.lockedOnPolka = true
        if (this.step === Step.Prevote) {
          this.lockedValue = p.block
          this.lockedRound = r
          this.vote(VoteType.Precommit, p.block)
        }
        this.validValue = p.block
        this.validRound = r
        changed = true
        continue
      }
      // Lines 44-46: a polka for nil.
      if (this.step === Step.Prevote && rs.prevotes.quorumKey() === 'nil') {
        this.vote(VoteType.Precommit, null)
        changed = true
        continue
      }
      // Lines 47-48: any precommit quorum: this round ends at its timeout at the latest.
      if (rs.precommits.hasQuorumAny() && !rs.precommitTimeoutSet) {
        rs.precommitTimeoutSet = true
        this.schedule(r, Step.Precommit, this.deps.timeouts.precommitMs)
      }
      // Lines 49-54: a precommit quorum for a proposal, in any round: decide.
      for (const [round, state] of this.rounds) {
        const key = state.precommits.quorumKey()
        const prop = state.proposal
        if (key === undefined || key === 'nil' || prop === undefined) continue
        if (key !== toHex(blockHash(prop.block.header)) || !this.valid(prop)) continue
        const votes = state.precommits.votesFor(key)
        this.decision = {
          block: prop.block,
          commit: {
            height: this.height,
            round,
            blockHash: blockHash(prop.block.header),
            sigs: votes.map((v) => [v.validator, v.sig]),
          },
        }
        this.step = Step.Decided
        this.out.push({ kind: 'decide', ...this.decision })
        return
      }
      // Line 55-56: more than 1/3 of the power is in a later round: skip ahead to it.
      for (const [round, state] of this.rounds) {
        if (round <= r) continue
        const voters = new Set([...state.prevotes.voters(), ...state.precommits.voters()])
        const power = [...voters].reduce((s, id) => s + this.deps.validators.powerOf(id), 0)
        if (this.deps.validators.isOneThird(power)) {
          this.startRound(round)
          changed = true
          break
        }
      }
    }
  }

  private sameAsLocked(block: Block): boolean {
    return (
      this.lockedValue !== undefined &&
      voteKey(blockHash(this.lockedValue.header)) === voteKey(blockHash(block.header))
    )
  }
}
