/**
 * One TypeScript entry compiled by esbuild into one ESM file under a cache directory, rebuilt only
 * when a source it was built from changed. JavaScript, so `npm start` (edge-agent/start.mjs) can
 * use it under plain Node before any TypeScript loader exists; shared/worker-bundle.ts uses it
 * for worker entries.
 *
 * Packages stay external (Node loads them from node_modules as usual). A bundle is named by its
 * content hash; a small record beside it (`<name>.last-build.json`) lists the sources with their
 * mtime and size, so an unchanged start skips esbuild (≈ 0.25 s for the agent, ≈ 0.1 s per
 * worker entry). Files are written to a temp name and renamed: concurrent processes never see a
 * half-written one.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The last bundle of `record`, if it was built from `entry` and none of its sources changed since; else undefined. */
function unchanged(record, entry) {
  try {
    const last = JSON.parse(readFileSync(record, 'utf8'));
    if (last.entry !== entry || !existsSync(last.file)) return undefined;
    for (const [path, [mtimeMs, size]] of Object.entries(last.inputs)) {
      const st = statSync(path);
      if (st.mtimeMs !== mtimeMs || st.size !== size) return undefined;
    }
    return last.file;
  } catch {
    return undefined; // no record yet, or a source gone: build
  }
}

function writeAtomic(file, contents) {
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, contents);
  renameSync(tmp, file);
}

/**
 * @param {{ entry: string, name: string, cacheDir: string, plugins?: import('esbuild').Plugin[], sourcemap?: boolean }} o
 * @returns {Promise<string>} the bundle's file: URL
 */
export async function bundleOnce(o) {
  const record = join(o.cacheDir, `${o.name}.last-build.json`);
  const entry = resolve(o.entry);
  const cached = unchanged(record, entry);
  if (cached) return pathToFileURL(cached).href;
  const { build } = await import('esbuild');
  const out = await build({
    entryPoints: [o.entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: `node${process.versions.node.split('.')[0]}`,
    packages: 'external',
    plugins: o.plugins ?? [],
    ...(o.sourcemap ? { sourcemap: 'external', outdir: o.cacheDir } : {}),
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const js = out.outputFiles.find((f) => !f.path.endsWith('.map'));
  const map = out.outputFiles.find((f) => f.path.endsWith('.map'));
  if (!js || (o.sourcemap && !map)) throw new Error(`esbuild returned no bundle for ${o.entry}`);
  const hash = createHash('sha256').update(js.contents).digest('hex').slice(0, 16);
  const file = join(o.cacheDir, `${o.name}-${hash}.mjs`);
  mkdirSync(o.cacheDir, { recursive: true });
  if (!existsSync(file)) {
    if (map) {
      writeAtomic(`${file}.map`, map.contents);
      writeAtomic(file, `${js.text}\n//# sourceMappingURL=${pathToFileURL(`${file}.map`).href}\n`);
    } else writeAtomic(file, js.contents);
  }
  const inputs = {};
  for (const rel of Object.keys(out.metafile.inputs)) {
    const path = resolve(rel);
    const st = statSync(path);
    inputs[path] = [st.mtimeMs, st.size];
  }
  writeAtomic(record, JSON.stringify({ entry, file, inputs }));
  return pathToFileURL(file).href;
}
