/**
 * The FC code package: build it into a temp dir (so a running local FC's dist/fc is not
 * replaced under it), then run the built handler in a child process exactly as FC does:
 * require(index.js), initializer(context), handler(eventBuffer, context).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, openSync, readSync, closeSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFc, MAX_PACKAGE_BYTES, type BuildResult } from '../scripts/build-fc.ts';
import { Rng } from '../shared/rng.ts';
import { batchResponseSchema, encodeBatch } from '../shared/wire/index.ts';
import { randomLine, renderTextLine } from '../shared/text-line-images.ts';

const run = promisify(execFile);
let work: string;
let built: BuildResult;

/** Every file under dir whose name matches. */
function findFiles(dir: string, re: RegExp): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && re.test(e.name))
    .map((e) => join(e.parentPath, e.name));
}

/** ELF machine of a shared object: 62 = x86-64. */
function elfMachine(path: string): number {
  const fd = openSync(path, 'r');
  const head = Buffer.alloc(20);
  readSync(fd, head, 0, 20, 0);
  closeSync(fd);
  expect(head.subarray(0, 4).toString('latin1'), `${path} is not ELF`).toBe('\x7fELF');
  return head.readUInt16LE(18);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'seb-build-fc-'));
  built = await buildFc(join(work, 'fc'));
}, 180_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('build:fc package', () => {
  it('is under 100 MB and reports its true size', () => {
    expect(built.bytes).toBeLessThan(MAX_PACKAGE_BYTES);
    expect(built.bytes).toBeGreaterThan(10 * 2 ** 20); // it does hold the native libs and models
  });

  it('holds only linux-x64 native binaries (no darwin, win32, arm64, GPU providers)', () => {
    const natives = findFiles(built.outDir, /\.(node|so(\.\d+)*|dll|dylib)$/);
    expect(natives.length).toBeGreaterThanOrEqual(3);
    for (const f of natives) {
      const rel = relative(built.outDir, f);
      expect(rel).not.toMatch(/darwin|win32|arm64|cuda|tensorrt|\.dll$|\.dylib$/);
      expect(elfMachine(f), rel).toBe(62);
    }
    expect(built.packages).toEqual(expect.arrayContaining(['onnxruntime-node', 'sharp', '@img/sharp-linux-x64', '@img/sharp-libvips-linux-x64']));
    expect(built.packages.some((p) => /darwin|win32|arm|wasm/.test(p))).toBe(false);
  });

  it('runs as FC runs it: require, initializer, handler(Buffer) → OCR response JSON', async () => {
    const rng = new Rng(5);
    const texts = Array.from({ length: 4 }, () => randomLine(rng));
    const items = await Promise.all(texts.map(async (t, i) => ({ id: `i${i}`, type: 'image/png' as const, bytes: await renderTextLine(t) })));
    const eventPath = join(work, 'event.bin');
    writeFileSync(eventPath, encodeBatch(items));
    // Run from the temp dir with a clean env: the package must not lean on the repo's node_modules.
    const script = `
      const fc = require(${JSON.stringify(join(built.outDir, 'index.js'))});
      const context = { requestId: 'r-1', function: { name: 'seb-ocr-c1-m2048' }, credentials: { accessKeySecret: 'hidden' } };
      (async () => {
        if (typeof fc.handler !== 'function' || typeof fc.initializer !== 'function') throw new Error('exports missing');
        await fc.initializer(context);
        const out = await fc.handler(require('fs').readFileSync(${JSON.stringify(eventPath)}), context);
        process.stdout.write('\\nRESULT ' + out);
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const { stdout } = await run(process.execPath, ['-e', script], { cwd: work, env: { PATH: process.env.PATH ?? '', SEB_VCPU: '1', SEB_MODEL: 'ocr-rec' }, timeout: 60_000 });
    expect(stdout).not.toContain('hidden');
    const res = batchResponseSchema.parse(JSON.parse(stdout.slice(stdout.indexOf('RESULT ') + 7)));
    expect(res.coldStart).toBe(true);
    expect(res.model).toBe('ocr-rec');
    expect(res.results.map((r) => r.id)).toEqual(items.map((i) => i.id));
    const exact = res.results.filter((r, i) => r.text === texts[i]).length;
    expect(exact, JSON.stringify(res.results.map((r) => r.text)) + ' vs ' + JSON.stringify(texts)).toBeGreaterThanOrEqual(3);
  });
});
