/**
 * Worker threads run compiled JavaScript, not TypeScript through tsx: each TS entry a worker
 * loads (the edge's ONNX worker, a local FC instance and its handler) is bundled once per
 * process with esbuild and every worker imports the bundle.
 *
 * Why: a worker that registers tsx compiles its whole module graph again on its own (profiled
 * under 3× overload: 3–11 s of CPU per local FC cold start on a 2-core device, on the cores
 * the edge needs); bundling the same graph takes esbuild ~0.1 s once. Real FC runs a bundle too
 * (`npm run build:fc`).
 *
 * Packages stay external (Node loads them from node_modules as usual), so only the project's own
 * TypeScript is inlined. Bundles are written under `node_modules/.cache/seb-workers/` (by
 * shared/esm-bundle.mjs: named by content hash, rebuilt only when a source changed), so bare
 * imports resolve from the project's node_modules and concurrent processes share them safely.
 *
 * A bundle is one file, so `import.meta.url` in a bundled module is the bundle's location:
 * modules a worker loads must locate files by package resolution (createRequire) or by an
 * absolute path passed in, not relative to their own source file.
 */
import { basename, extname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { projectCacheDir } from './cache-dir.ts';
import { bundleOnce } from './esm-bundle.mjs';

const CACHE_DIR = projectCacheDir('seb-workers');

const bundles = new Map<string, Promise<string>>();

/**
 * The file: URL of `entry` (a path or file: URL) bundled to one ESM file when it is TypeScript;
 * a JavaScript module (e.g. the CommonJS `dist/fc/index.js`) is imported as it is.
 */
export function bundledModuleUrl(entry: string): Promise<string> {
  const path = entry.startsWith('file:') ? fileURLToPath(entry) : entry;
  if (!/\.[cm]?tsx?$/.test(path)) return Promise.resolve(pathToFileURL(path).href);
  let p = bundles.get(path);
  if (!p) {
    p = bundleOnce({ entry: path, name: basename(path, extname(path)), cacheDir: CACHE_DIR });
    bundles.set(path, p);
    p.catch(() => bundles.delete(path)); // a failed build (e.g. a syntax error being fixed) is retried next time
  }
  return p;
}
