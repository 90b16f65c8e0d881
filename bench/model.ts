/**
 * `npm run bench:model`: how batch size and intra-op threads change the cost of one batch of the
 * shared batch-inference function (decode + ONNX run) on rendered text lines.
 *
 * For each thread count and batch size it prints the median ms per batch, images/s, and two
 * ratios against baselines measured in the same run: throughput vs batch size 1 (same threads)
 * and vs 1 thread (same batch size). It then fits l(b) = a + k·b by least squares per thread
 * count, the latency model the scheduler uses.
 *
 * Flags: --model ocr-rec  --sizes 1,2,4,8,16,32  --threads 1,2  --reps 7  --seed 1  --chars 8
 */
import { parseArgs } from 'node:util';
import { createBatchInference } from '../shared/batch-inference.ts';
import { Rng } from '../shared/rng.ts';
import { fitLine, median } from '../shared/stats.ts';
import type { WireItem } from '../shared/wire/index.ts';
import { randomLine, renderTextLine } from '../shared/text-line-images.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'ocr-rec' },
    sizes: { type: 'string', default: '1,2,4,8,16,32' },
    threads: { type: 'string', default: '1,2' },
    reps: { type: 'string', default: '7' },
    seed: { type: 'string', default: '1' },
    chars: { type: 'string', default: '8' },
  },
});

function positiveInts(flag: string, raw: string): number[] {
  const xs = raw.split(',').map((s) => Number(s.trim()));
  const bad = xs.find((x) => !Number.isInteger(x) || x < 1);
  if (bad !== undefined || xs.length === 0) throw new Error(`Expected \`--${flag}\` to be a comma-separated list of integers ≥ 1, got \`${raw}\``);
  return xs;
}

const sizes = positiveInts('sizes', values.sizes);
const threadCounts = positiveInts('threads', values.threads);
const [reps] = positiveInts('reps', values.reps);
const [seed] = positiveInts('seed', values.seed);
// Lines of one length: the batch pads to its widest item, so mixed lengths would mix padding
// cost into the batch-size effect.
const [chars] = positiveInts('chars', values.chars);

/** The shared least-squares line (a, k ≥ 0) and its R² = 1 − SS_res/SS_tot. */
function fitWithR2(xs: number[], ys: number[]): { a: number; k: number; r2: number } {
  const { a, k } = fitLine(xs, ys);
  const my = ys.reduce((s, y) => s + y, 0) / ys.length;
  let ssRes = 0;
  let ssTot = 0;
  for (let i = 0; i < xs.length; i++) {
    ssRes += (ys[i] - (a + k * xs[i])) ** 2;
    ssTot += (ys[i] - my) ** 2;
  }
  return { a, k, r2: ssTot > 0 ? 1 - ssRes / ssTot : 1 };
}

const rng = new Rng(seed);
const maxSize = Math.max(...sizes);
const items: WireItem[] = await Promise.all(
  Array.from({ length: maxSize }, async (_, i) => ({ id: `b${i}`, type: 'image/png' as const, bytes: await renderTextLine(randomLine(rng, { minChars: chars, maxChars: chars })) })),
);

interface Row {
  threads: number;
  size: number;
  ms: number;
  decodeMs: number;
  inferMs: number;
}
// All sessions stay loaded and the cells are measured round-robin, rep by rep, so background
// load on a shared machine hits every cell alike instead of skewing one thread count.
const sessions = new Map<number, Awaited<ReturnType<typeof createBatchInference>>>();
for (const threads of threadCounts) {
  const inference = await createBatchInference({ model: values.model, intraOpThreads: threads });
  await inference.run(items.slice(0, Math.min(4, maxSize))); // warm-up: the first run allocates
  sessions.set(threads, inference);
}
const samples = new Map<string, { wall: number[]; dec: number[]; inf: number[] }>();
for (let r = 0; r < reps; r++) {
  for (const size of sizes) {
    for (const threads of threadCounts) {
      const key = `${threads}/${size}`;
      const cell = samples.get(key) ?? { wall: [], dec: [], inf: [] };
      samples.set(key, cell);
      const t0 = performance.now();
      const res = await sessions.get(threads)!.run(items.slice(0, size));
      cell.wall.push(performance.now() - t0);
      cell.dec.push(res.decodeMs);
      cell.inf.push(res.inferMs);
    }
  }
  process.stderr.write(`rep ${r + 1}/${reps}\n`);
}
for (const s of sessions.values()) await s.close();
const rows: Row[] = [];
for (const threads of threadCounts) {
  for (const size of sizes) {
    const c = samples.get(`${threads}/${size}`)!;
    rows.push({ threads, size, ms: median(c.wall), decodeMs: median(c.dec), inferMs: median(c.inf) });
  }
}

const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);
console.log(`\n## bench:model — ${values.model}, ${reps} reps per cell (median), rendered ${chars}-character text lines (+ dash), seed ${seed}, cells interleaved\n`);
console.log('| threads | batch | ms/batch | decode ms | infer ms | ms/image | images/s | × vs batch 1 | × vs 1 thread |');
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  const base1 = rows.find((x) => x.threads === r.threads && x.size === Math.min(...sizes))!;
  const baseT = rows.find((x) => x.threads === Math.min(...threadCounts) && x.size === r.size)!;
  const ips = (r.size / r.ms) * 1000;
  const ipsB = (base1.size / base1.ms) * 1000;
  console.log(`| ${r.threads} | ${r.size} | ${f1(r.ms)} | ${f1(r.decodeMs)} | ${f1(r.inferMs)} | ${f2(r.ms / r.size)} | ${f1(ips)} | ${f2(ips / ipsB)} | ${f2(baseT.ms / r.ms)} |`);
}
console.log('\n| threads | a (ms) | k (ms/image) | R² |');
console.log('|---:|---:|---:|---:|');
for (const threads of threadCounts) {
  const mine = rows.filter((r) => r.threads === threads);
  const fit = fitWithR2(
    mine.map((r) => r.size),
    mine.map((r) => r.ms),
  );
  console.log(`| ${threads} | ${f1(fit.a)} | ${f2(fit.k)} | ${fit.r2.toFixed(4)} |`);
}
