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
 * TypeScript is inlined. Bundles are written under `node_modules/.cache/seb-workers/`, named by
 * their content hash, so bare imports resolve from the project's node_modules and concurrent
 * processes (test files, benches) share identical files safely (write to a temp name, rename).
 *
 * A bundle is one file, so `import.meta.url` in a bundled module is the bundle's location:
 * modules a worker loads must locate files by package resolution (createRequire) or by an
 * absolute path passed in, not relative to their own source file.
 */
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const CACHE_DIR = fileURLToPath(new URL('../node_modules/.cache/seb-workers/', import.meta.url));

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
    p = bundle(path);
    bundles.set(path, p);
    p.catch(() => bundles.delete(path)); // a failed build (e.g. a syntax error being fixed) is retried next time
  }
  return p;
}

async function bundle(path: string): Promise<string> {
  const out = await build({
    entryPoints: [path],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: `node${process.versions.node.split('.')[0]}`,
    packages: 'external',
    write: false,
    logLevel: 'silent',
  });
  const code = out.outputFiles[0]!.contents;
  const hash = createHash('sha256').update(code).digest('hex').slice(0, 16);
  const file = join(CACHE_DIR, `${basename(path, extname(path))}-${hash}.mjs`);
  if (!existsSync(file)) {
    mkdirSync(CACHE_DIR, { recursive: true });
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    writeFileSync(tmp, code);
    renameSync(tmp, file);
  }
  return pathToFileURL(file).href;
}
