/** What the Race-fit check needs of a configuration: the genesis timings and the block pace. */
export interface RaceTimings {
  epochBlocks: number
  race: { commitBlocks: number; revealBlocks: number; raceMs: number; submitMs: number; validateMs: number }
  /** The longest a chain goes without a block (an empty one is made after this long). */
  emptyBlockIntervalMs: number
}

/**
 * The fewest blocks a Race can span: its commit and reveal blocks, then one block at least every
 * `emptyBlockIntervalMs` through the race, submission and validation windows. A busy chain makes
 * blocks faster, so a Race spans more of them (and may run into the next epoch's place: the next
 * Race then starts right after it, with no inference-only time between).
 */
export function raceBlocksAtLeast(t: RaceTimings): number {
  const timed = t.race.raceMs + t.race.submitMs + t.race.validateMs
  return t.race.commitBlocks + t.race.revealBlocks + Math.ceil(timed / t.emptyBlockIntervalMs)
}

/**
 * Why these timings cannot fit a Race in an epoch with inference-only time after it, naming the
 * fields; null when they can.
 */
export function raceFitProblem(t: RaceTimings): string | null {
  const need = raceBlocksAtLeast(t)
  if (need < t.epochBlocks) return null
  const { commitBlocks, revealBlocks, raceMs, submitMs, validateMs } = t.race
  return (
    `genesis.params.epochBlocks (${t.epochBlocks}) cannot hold the Race and leave blocks for inference: ` +
    `genesis.race.commitBlocks (${commitBlocks}) + genesis.race.revealBlocks (${revealBlocks}) + ` +
    `the blocks made during genesis.race.raceMs + submitMs + validateMs (${raceMs + submitMs + validateMs} ms, ` +
    `at least ${need - commitBlocks - revealBlocks} at consensus.emptyBlockIntervalMs ${t.emptyBlockIntervalMs}) ` +
    `= ${need} blocks; raise epochBlocks above ${need} or shorten the Race`
  )
}
