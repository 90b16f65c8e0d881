/**
 * `npm start`: edge-agent/main.ts compiled to one JavaScript file with esbuild, then run in this
 * process by plain Node — no TypeScript loader stays resident in the agent.
 *
 * Why: `tsx edge-agent/main.ts` keeps tsx's loader in the agent for its whole life — on Node 20 a
 * module-hooks thread with a V8 heap of its own, plus the compiled sources it holds — ≈ 45 MB of
 * the edge-only agent's RSS under load (bench:rss: the same tree with `--launch tsx`). Compiling
 * the whole graph with esbuild takes ≈ 0.25 s, only when a source changed since the last start
 * (shared/esm-bundle.mjs). `node --import tsx
 * edge-agent/main.ts` still works, for development and tests, and behaves the same.
 *
 * The bundle is written under `node_modules/.cache/seb-agent/`; packages stay external. Every `import.meta.url` in the
 * project's TypeScript is replaced by the URL of the source file it is written in, so files found
 * relative to a module (profiles/default.json, s.yaml, the dashboard, worker entries) resolve as
 * they do unbundled. A linked source map is written beside the bundle: run with
 * `NODE_OPTIONS=--enable-source-maps` for stack traces in the TypeScript sources (it costs
 * memory, so it is off by default).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundleOnce } from '../shared/esm-bundle.mjs';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const CACHE_DIR = fileURLToPath(new URL('../node_modules/.cache/seb-agent/', import.meta.url));

/** @type {import('esbuild').Plugin} */
const sourceUrls = {
  name: 'source-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.[cm]?ts$/ }, (args) => ({
      contents: readFileSync(args.path, 'utf8').replace(/\bimport\.meta\.url\b/g, JSON.stringify(pathToFileURL(args.path).href)),
      loader: 'ts',
    }));
  },
};

/** The file: URL of main.ts compiled to one ESM file (rebuilt only when a source changed). */
function compiledMain() {
  return bundleOnce({ entry: MAIN, name: 'main', cacheDir: CACHE_DIR, plugins: [sourceUrls], sourcemap: true });
}

let url;
try {
  url = await compiledMain();
} catch (err) {
  process.stderr.write(`edge-agent: cannot compile edge-agent/main.ts: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
await import(url);
