/**
 * A command handler whose module is loaded only when its command runs. The handlers pull in the
 * daemon, libp2p, onnxruntime and the ledger; loading them all for every command made even
 * `cordex --version` or `cordex status` spend over a second of CPU before doing anything.
 */
export function lazy<A>(load: () => Promise<(args: A) => unknown>): (args: A) => Promise<void> {
  return async (args) => {
    await (
      await load()
    )(args)
  }
}
