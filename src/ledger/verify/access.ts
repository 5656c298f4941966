import type { Overlay, StateReader } from '../state/state.js'
import {
  AUDIT_PAGE,
  FRESH_STANDING,
  VerifyKeys,
  type Audit,
  type CheckedTask,
  type HeldRewards,
  type Standing,
  type VerifyParams,
} from './records.js'
import { TaskKeys } from '../task/records.js'

export function getVerifyParams(s: StateReader): VerifyParams | undefined {
  return s.get(VerifyKeys.verifyParams) as VerifyParams | undefined
}

export function getStanding(s: StateReader, peer: string): Standing {
  return (s.get(VerifyKeys.standing(peer)) as Standing | undefined) ?? FRESH_STANDING
}

export function putStanding(s: Overlay, peer: string, v: Standing): void {
  s.set(VerifyKeys.standing(peer), v)
}

export function getChecked(s: StateReader, idHex: string): CheckedTask | undefined {
  return s.get(VerifyKeys.checked(idHex)) as CheckedTask | undefined
}

export function putChecked(s: Overlay, idHex: string, t: CheckedTask | null): void {
  if (t === null) s.delete(VerifyKeys.checked(idHex))
  else s.set(VerifyKeys.checked(idHex), t)
}

export function getAudit(s: StateReader, epoch: number): Audit | undefined {
  return s.get(VerifyKeys.audit(epoch)) as Audit | undefined
}

export function putAudit(s: Overlay, a: Audit | null, epoch?: number): void {
  if (a === null) s.delete(VerifyKeys.audit(epoch!))
  else s.set(VerifyKeys.audit(a.epoch), a)
}

/** Add a settled task's id to its epoch's index. */
export function indexTask(s: Overlay, audit: Audit, taskId: Uint8Array): Audit {
  const page = Math.floor(audit.tasks / AUDIT_PAGE)
  const key = VerifyKeys.auditPage(audit.epoch, page)
  const ids = (s.get(key) as Uint8Array[] | undefined) ?? []
  s.set(key, [...ids, taskId])
  const next = { ...audit, tasks: audit.tasks + 1 }
  putAudit(s, next)
  return next
}

/** The ids of every task settled in an audit's epoch, in settlement order. */
export function* auditTaskIds(s: StateReader, audit: Audit): Iterable<Uint8Array> {
  const pages = Math.ceil(audit.tasks / AUDIT_PAGE)
  for (let p = 0; p < pages; p++)
    yield* (s.get(VerifyKeys.auditPage(audit.epoch, p)) as Uint8Array[] | undefined) ?? []
}

export function dropAuditPages(s: Overlay, audit: Audit): void {
  const pages = Math.ceil(audit.tasks / AUDIT_PAGE)
  for (let p = 0; p < pages; p++) s.delete(VerifyKeys.auditPage(audit.epoch, p))
}

/** A peer's weight in an audit's epoch (0 when it had none). */
export function weightIn(audit: Audit, peer: string): number {
  return audit.weights.find(([p]) => p === peer)?.[1] ?? 0
}

export function totalWeight(audit: Audit): number {
  return audit.weights.reduce((sum, [, w]) => sum + w, 0)
}

// Held rewards (SPEC 7): earned in an epoch, paid when that epoch's audit closes.

export function getHeld(s: StateReader): HeldRewards {
  return (s.get(TaskKeys.held) as HeldRewards | undefined) ?? []
}

function putHeld(s: Overlay, h: HeldRewards): void {
  const rest = h.filter(([, , a]) => a > 0n)
  rest.sort(([a, ea], [b, eb]) => (a < b ? -1 : a > b ? 1 : ea - eb))
  if (rest.length === 0) s.delete(TaskKeys.held)
  else s.set(TaskKeys.held, rest)
}

/** Everything a peer has earned and not been paid, all epochs together. */
export function heldOf(s: StateReader, peer: string): bigint {
  return getHeld(s).reduce((sum, [p, , a]) => (p === peer ? sum + a : sum), 0n)
}

/** What a peer earned in one epoch and has not been paid. */
export function heldIn(s: StateReader, peer: string, epoch: number): bigint {
  return getHeld(s).find(([p, e]) => p === peer && e === epoch)?.[2] ?? 0n
}

/** Add `delta` (may be negative, never below 0 in total) to a peer's rewards held for `epoch`. */
export function addHeld(s: Overlay, peer: string, epoch: number, delta: bigint): void {
  const h = getHeld(s)
  const i = h.findIndex(([p, e]) => p === peer && e === epoch)
  const now = (i === -1 ? 0n : h[i]![2]) + delta
  if (now < 0n) throw new Error(`held rewards of ${peer} for epoch ${epoch} would go negative`)
  const next = h.filter((_, j) => j !== i)
  next.push([peer, epoch, now])
  putHeld(s, next)
}

/** Remove and return a peer's held rewards: of one epoch, or of all when `epoch` is undefined. */
export function takeHeld(s: Overlay, peer: string, epoch?: number): bigint {
  const h = getHeld(s)
  let taken = 0n
  const rest = h.filter(([p, e, a]) => {
    if (p !== peer || (epoch !== undefined && e !== epoch)) return true
    taken += a
    return false
  })
  putHeld(s, rest)
  return taken
}

/** Remove and return every entry held for `epoch` (or for any epoch up to it). */
export function takeEpochHeld(s: Overlay, upTo: number): Array<[string, bigint]> {
  const h = getHeld(s)
  const paid: Array<[string, bigint]> = []
  putHeld(
    s,
    h.filter(([p, e, a]) => {
      if (e > upTo) return true
      paid.push([p, a])
      return false
    }),
  )
  return paid
}
