/**
 * `npm run build:fc`: package the FC function into dist/fc (what s.yaml's `code:` points at).
 *
 * - index.js: esbuild bundle of functions/index.ts, CommonJS for node20, exporting
 *   `handler` and `initializer`. Native packages (onnxruntime-node, sharp) stay external.
 * - node_modules/: those packages and their runtime dependencies, with linux-x64 (glibc)
 *   binaries only: other platforms and GPU execution providers are pruned.
 * - models/: the model files; the bundle's banner points `SEB_MODEL_DIR` there unless the
 *   function's environment sets it.
 *
 * Usage: tsx scripts/build-fc.ts [--out DIR]   (default dist/fc). Fails if the package is ≥ 100 MB.
 */
import { build } from 'esbuild';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { MODEL_FILES, modelDir } from '../shared/models/registry.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
/** FC rejects code packages above this (uncompressed, as we measure it). */
export const MAX_PACKAGE_BYTES = 100 * 1024 * 1024;
/** Packages the bundle leaves external because they load native code. */
const NATIVE_PACKAGES = ['onnxruntime-node', 'sharp'];
/** Dependencies used only by a package's install script, not at run time. */
const INSTALL_ONLY = new Set(['adm-zip', 'global-agent']);

export interface BuildResult {
  readonly outDir: string;
  readonly bytes: number;
  /** Copied packages, by name. */
  readonly packages: string[];
}

interface PackageJson {
  name: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  os?: string[];
  cpu?: string[];
  libc?: string[];
}

/** Does a package's os/cpu/libc declaration allow linux x64 glibc (FC's runtime)? */
function fitsFc(pkg: PackageJson): boolean {
  const ok = (list: string[] | undefined, v: string) => !list || (list.includes(v) && !list.includes(`!${v}`)) || (list.every((x) => x.startsWith('!')) && !list.includes(`!${v}`));
  return ok(pkg.os, 'linux') && ok(pkg.cpu, 'x64') && ok(pkg.libc, 'glibc');
}

/** Directory of package `name` as Node would resolve it from `fromDir`. */
function packageDir(name: string, fromDir: string): string | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/** The run-time closure of the native packages: name → source directory. */
function runtimeClosure(): Map<string, string> {
  const found = new Map<string, string>();
  const visit = (name: string, fromDir: string, optional: boolean) => {
    if (found.has(name) || INSTALL_ONLY.has(name)) return;
    const dir = packageDir(name, fromDir);
    if (!dir) {
      if (optional) return;
      throw new Error(`build:fc: package ${name} is not installed (needed by the FC bundle); run npm ci`);
    }
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
    if (!fitsFc(pkg)) return; // another platform's optional binary
    found.set(name, dir);
    for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dep, dir, false);
    for (const dep of Object.keys(pkg.optionalDependencies ?? {})) visit(dep, dir, true);
  };
  for (const name of NATIVE_PACKAGES) visit(name, REPO, false);
  return found;
}

/** Remove what FC's linux-x64 CPU runtime never loads. */
function prune(nodeModules: string): void {
  const ortBin = join(nodeModules, 'onnxruntime-node', 'bin', 'napi-v6');
  for (const os of readdirSync(ortBin)) {
    if (os !== 'linux') rmSync(join(ortBin, os), { recursive: true, force: true });
  }
  for (const arch of readdirSync(join(ortBin, 'linux'))) {
    if (arch !== 'x64') rmSync(join(ortBin, 'linux', arch), { recursive: true, force: true });
  }
  for (const f of readdirSync(join(ortBin, 'linux', 'x64'))) {
    if (/providers_(cuda|tensorrt|rocm|migraphx|openvino)|libcudart|libcublas|libcudnn/i.test(f)) rmSync(join(ortBin, 'linux', 'x64', f), { force: true });
  }
  // Sources, install scripts and type declarations are not needed at run time.
  for (const p of ['onnxruntime-node/script', 'onnxruntime-node/lib', 'sharp/src', 'sharp/install']) rmSync(join(nodeModules, p), { recursive: true, force: true });
  const sweep = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) sweep(p);
      else if (/\.(d\.ts|d\.cts|d\.mts|map|md)$/.test(e.name) || e.name === 'glibconfig.h') rmSync(p);
    }
  };
  sweep(nodeModules);
}

/** Total size of a directory tree. */
export function treeBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? treeBytes(p) : statSync(p).size;
  }
  return total;
}

/** Build the FC code package into `outDir` (replacing it). */
export async function buildFc(outDir: string = join(REPO, 'dist', 'fc')): Promise<BuildResult> {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: [join(REPO, 'functions', 'index.ts')],
    outfile: join(outDir, 'index.js'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: NATIVE_PACKAGES,
    logLevel: 'warning',
    legalComments: 'none',
    // CommonJS has no import.meta; give modules that use it the bundle file's URL.
    define: { 'import.meta.url': '__sebImportMetaUrl' },
    banner: {
      js: [
        "const __sebImportMetaUrl = require('node:url').pathToFileURL(__filename).href;",
        "if (!process.env.SEB_MODEL_DIR) process.env.SEB_MODEL_DIR = require('node:path').join(__dirname, 'models');",
      ].join('\n'),
    },
  });
  // The repo is "type": "module"; make sure Node reads the bundle as CommonJS wherever it sits.
  writeFileSync(join(outDir, 'package.json'), `${JSON.stringify({ name: 'seb-fc', private: true, type: 'commonjs', main: 'index.js' }, null, 2)}\n`);

  const nodeModules = join(outDir, 'node_modules');
  const closure = runtimeClosure();
  for (const [name, dir] of closure) cpSync(dir, join(nodeModules, name), { recursive: true, dereference: true });
  prune(nodeModules);

  const models = join(outDir, 'models');
  mkdirSync(models);
  const src = modelDir();
  for (const f of MODEL_FILES) cpSync(join(src, f), join(models, f));

  const bytes = treeBytes(outDir);
  if (bytes >= MAX_PACKAGE_BYTES) throw new Error(`build:fc: ${outDir} is ${(bytes / 2 ** 20).toFixed(1)} MiB; FC's limit is 100 MiB`);
  return { outDir, bytes, packages: [...closure.keys()].sort() };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const { values } = parseArgs({ options: { out: { type: 'string' } } });
  const started = performance.now();
  const r = await buildFc(values.out ? resolve(values.out) : undefined);
  console.log(`built ${relative(process.cwd(), r.outDir) || '.'} in ${Math.round(performance.now() - started)} ms`);
  console.log(`packages: ${r.packages.join(', ')}`);
  console.log(`size: ${(r.bytes / 2 ** 20).toFixed(1)} MiB (${r.bytes} bytes; limit 100 MiB)`);
}
