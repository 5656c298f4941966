import { encode } from '../codec.js'
import { signingBytes, taggedHash, verifySignature, type Signer } from '../crypto.js'

/**
 * docs/verification.md, "Who checks what". Each verifier has one selection key per epoch: its
 * Ed25519 signature over (chain, epoch). Ed25519 signatures are deterministic, so the key is
 * fixed before any task exists (binding); nobody else can compute it (unpredictable); and once it
 * is revealed, anyone checks it with the verifier's public key and recomputes every selection of
 * the epoch from it (checkable, and auditable with one transaction per verifier).
 */
export function selectionMessage(chainId: string, epoch: number): Uint8Array {
  return signingBytes('verify-key', encode([chainId, epoch]))
}

export function selectionKey(signer: Signer, chainId: string, epoch: number): Uint8Array {
  return signer.sign(selectionMessage(chainId, epoch))
}

export function checkSelectionKey(peer: string, chainId: string, epoch: number, key: Uint8Array): boolean {
  return verifySignature(peer, selectionMessage(chainId, epoch), key)
}

/** 10,000 basis points: a rate of 1. */
export const BPS = 10_000

/**
 * The check rate of an executor with `reputation` (epochs without confirmed fraud), in basis
 * points: 1 at reputation 0, falling linearly to `minCheckRateBps` at `reputationCap` and beyond.
 */
export function checkRateBps(reputation: number, reputationCap: number, minCheckRateBps: number): number {
  if (reputationCap <= 0) return minCheckRateBps
  const r = Math.min(Math.max(reputation, 0), reputationCap)
  return BPS - Math.floor(((BPS - minCheckRateBps) * r) / reputationCap)
}

/** The selection value of a verifier for a task: `H("cordex/verify/select", key ‖ taskId)`. */
export function selectionValue(key: Uint8Array, taskId: Uint8Array): bigint {
  return BigInt('0x' + Buffer.from(taggedHash('cordex/verify/select', key, taskId)).toString('hex'))
}

const TWO_256 = 1n << 256n

/**
 * Whether a verifier of weight `weight` is selected for a task whose check rate is `rateBps`:
 * its value falls under `rate × weight / others`, where `others` is the weight of every eligible
 * peer but the executor. Summed over those peers the chances are the rate (each capped at 1), so a
 * task gets `rate` verifiers on average.
 */
export function isSelected(value: bigint, rateBps: number, weight: number, others: number): boolean {
  if (weight <= 0 || others <= 0 || rateBps <= 0) return false
  // value / 2^256 < rate/BPS × weight/others, in integers.
  return value * BigInt(BPS) * BigInt(others) < BigInt(rateBps) * BigInt(weight) * TWO_256
}

/** One verifier's chance of selection, for simulations and reports: min(1, rate × weight / others). */
export function selectionChance(rateBps: number, weight: number, others: number): number {
  if (others <= 0) return 0
  return Math.min(1, ((rateBps / BPS) * weight) / others)
}
