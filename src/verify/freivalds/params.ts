import type { AuditParams } from './challenge.js'
import { P31 } from './field.js'

/**
 * The audit's defaults, chosen in docs/verification.md, "Freivalds audits (int8 tasks)":
 * p = 2^31 − 1 and k = 2 (a wrong opened row passes with chance p^-2 ≈ 2.2e-19); a = 16 products
 * per task (every product of kjv-small's 4 layers; 16 of Llama-3-8B's 224) and m = 16 rows of each
 * (all of them in tasks of up to 16 tokens).
 */
export const FREIVALDS_DEFAULTS: Readonly<AuditParams & { p: number }> = Object.freeze({
  p: P31,
  rounds: 2,
  products: 16,
  rows: 16,
})
