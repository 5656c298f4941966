// Where a worker thread's code is: the compiled module next to the code that starts it, or, when the
// daemon runs from the bundle (scripts/bundle.mjs, which defines `globalThis.CORDEX_BUNDLED`), that
// worker's own bundle beside the CLI's. Inside the bundle every module's `import.meta.url` is the
// bundle file's, so two workers both named `./worker.js` next to their compiled modules would be the
// same file there: each has its bundle name.

declare global {
  // Set to true by the bundler's `define`; never assigned at run time.
  var CORDEX_BUNDLED: boolean | undefined
}

/** The bundle names of the worker threads (entry points in scripts/bundle.mjs). */
export type WorkerBundle = 'engine-worker' | 'tokenizer-worker' | 'race-worker'

/** The file a worker runs: `compiled` (a URL next to the caller's module), or its bundle. */
export function workerFile(compiled: URL, bundle: WorkerBundle): URL {
  return globalThis.CORDEX_BUNDLED === true ? new URL(`./${bundle}.js`, import.meta.url) : compiled
}
