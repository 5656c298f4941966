import { checkBooks } from '../../src/ledger/economics/index.js'
import type { State } from '../../src/ledger/state/state.js'

/**
 * Issue 12, item 7: after every block the books balance. Throws, naming the height and the
 * difference, when they do not. `genesis`: the genesis supply (genesisSupply), to check
 * supply.total == genesis + minted − burned as well.
 */
export function assertBooks(state: State, height: number, genesis?: bigint): void {
  const why = checkBooks(state, genesis)
  if (why !== undefined) throw new Error(`after block ${height}: ${why}`)
}
