// Bundles the compiled CLI and its worker threads into dist/bundle/, which bin/cordex runs.
//
// Node 20 resolves, opens and compiles every module of an import graph one file at a time, with no
// compile cache: a daemon opened about 1,500 JavaScript files and 550 package.json files at start
// (strace), and loading them was most of its start (1.5 s and 1.8 CPU-s to a ready control socket
// here). The same code in a few bundle files starts in about half that; every test devnet,
// benchmark and operator restart pays it. Commands stay lazy: the CLI's dynamic imports become
// chunks loaded on demand (`splitting`).
//
// Packages with native code or files of their own stay outside and are imported from node_modules
// as before. The bundle is built from dist/src (tsc's output), so `npm run build` runs tsc first;
// bin/cordex falls back to dist/src when the bundle is missing or older than tsc's last build.
import { build } from 'esbuild'
import { rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const OUT = join(ROOT, 'dist', 'bundle')

rmSync(OUT, { recursive: true, force: true })
await build({
  absWorkingDir: ROOT,
  entryPoints: {
    cli: 'dist/src/cli/index.js',
    // Their names are what src/util/workerFile.ts asks for.
    'engine-worker': 'dist/src/engine/llm/worker.js',
    'tokenizer-worker': 'dist/src/engine/llm/tokenizerWorker.js',
    'race-worker': 'dist/src/node/race/worker.js',
  },
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Native add-ons (and the files they load beside them).
  external: ['onnxruntime-node', 'classic-level', 'webgpu', '@huggingface/tokenizers'],
  define: { 'globalThis.CORDEX_BUNDLED': 'true' },
  // CommonJS dependencies call require() for Node's built-ins, which an ES module lacks.
  banner: {
    js: "import { createRequire as __cordexRequire } from 'node:module';\nconst require = __cordexRequire(import.meta.url);",
  },
  sourcemap: 'linked',
  logLevel: 'warning',
})
