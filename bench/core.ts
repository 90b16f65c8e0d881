/**
 * `npm run bench:core`: cost of the core's hot paths, timed with performance.now() over many
 * repetitions (after a warm-up):
 *   - one BOCPD update with K = 100 run lengths (Normal–Gamma and Poisson–Gamma),
 *   - one re-plan over 6 tiers × 64 batch sizes (3 deadline classes),
 *   - one decide() over 1,000 queued requests.
 * Targets: ≤ 20 µs, ≤ 1 ms, ≤ 200 µs.
 */
import { performance } from 'node:perf_hooks';
import { FC3_PRICING } from '../shared/pricing.ts';
import { Rng } from '../shared/rng.ts';
import {
  Bocpd,
  decide,
  fixedLink,
  linePredictor,
  makePlan,
  NormalGammaModel,
  PoissonGammaModel,
  type DecideState,
  type DecideTarget,
  type PlannerInput,
} from '../edge-agent/core/index.ts';

function time(label: string, reps: number, fn: (i: number) => void): number {
  for (let i = 0; i < Math.min(reps, 2000); i++) fn(i); // warm-up (JIT)
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) fn(i);
  return ((performance.now() - t0) / reps) * 1000; // µs
}

const rng = new Rng(1);
const rows: { what: string; value: string; target: string; ok: boolean }[] = [];

// BOCPD, K = 100: a stationary stream keeps the posterior full (100 run lengths).
{
  const xs = Array.from({ length: 200_000 }, () => rng.normal());
  const b = new Bocpd(new NormalGammaModel(), { hazard: 1 / 1000, maxRunLengths: 100, minProbability: 0 });
  for (let i = 0; i < 500; i++) b.update(xs[i]);
  const us = time('bocpd-normal', 100_000, (i) => b.update(xs[i % xs.length]));
  rows.push({ what: `BOCPD update, Normal–Gamma, K = 100 (size ${b.size})`, value: `${us.toFixed(2)} µs`, target: '≤ 20 µs', ok: us <= 20 });
  const counts = Array.from({ length: 200_000 }, () => Math.round(30 + 5.5 * rng.normal()));
  const p = new Bocpd(new PoissonGammaModel({ alpha: 30, beta: 1 }), { hazard: 1 / 1000, maxRunLengths: 100, minProbability: 0 });
  for (let i = 0; i < 500; i++) p.update(counts[i]);
  const usP = time('bocpd-poisson', 100_000, (i) => p.update(counts[i % counts.length]));
  rows.push({ what: `BOCPD update, Poisson–Gamma, K = 100 (size ${p.size})`, value: `${usP.toFixed(2)} µs`, target: '≤ 20 µs', ok: usP <= 20 });
}

// Re-plan: 6 tiers × 64 batch sizes, 3 deadline classes, an edge.
{
  const vcpus = [0.5, 1, 2, 4, 8, 16];
  const input: PlannerInput = {
    rateRps: 80,
    link: fixedLink(30, 20e6),
    itemBytes: 20000,
    classBudgetsMs: [300, 800, 2000],
    edge: { workers: 1, latency: linePredictor({ aMs: 2, kMs: 15, residualQ95Ms: 8 }) },
    tiers: vcpus.map((v) => ({
      tier: { key: `tier-c${v}`, vcpu: v, memoryMb: 2048 * Math.max(1, v) },
      latency: linePredictor({ aMs: 4, kMs: 24 / v, residualQ95Ms: 10, coldStartMs: 1300 }),
      warm: v <= 2,
    })),
    pricing: FC3_PRICING,
    maxBatch: 64,
    quantile: 'q95',
    safetyMarginMs: 10,
    edgeUtilisationCap: 0.8,
    tierMaxInstances: 100,
  };
  let sink = 0;
  const us = time('replan', 3000, () => {
    sink += makePlan(input).cloud.classes.length;
  });
  rows.push({ what: 'Re-plan, 6 tiers × 64 batch sizes, 3 classes', value: `${(us / 1000).toFixed(3)} ms`, target: '≤ 1 ms', ok: us <= 1000 });
  if (sink < 0) console.log(sink);
}

// decide() with 1,000 queued requests (lax deadlines: the batch is not due, all are scanned once).
{
  const now = 10_000;
  const mkQueue = (budget: () => number) =>
    Array.from({ length: 1000 }, (_, i) => {
      const arrivalMs = now - rng.int(200);
      return { id: `r${i}`, arrivalMs, deadlineMs: arrivalMs + budget(), bytes: 20000 };
    }).sort((a, b) => a.deadlineMs - b.deadlineMs);
  const targets: DecideTarget[] = [
    { id: 'edge', isEdge: true, freeSlots: 1, warmIdle: Infinity, latency: linePredictor({ aMs: 2, kMs: 15, residualQ95Ms: 8 }) },
    ...[0.5, 1, 2, 4, 8, 16].map((v) => ({
      id: `tier-c${v}`,
      isEdge: false,
      freeSlots: 100,
      warmIdle: 100,
      latency: linePredictor({ aMs: 4, kMs: 24 / v, residualQ95Ms: 10, coldStartMs: 1300 }),
      tier: { vcpu: v, memoryMb: 2048 * Math.max(1, v) },
    })),
  ];
  const base = (queue: DecideState['queue'], batch: number): DecideState => ({
    queue,
    targets,
    link: fixedLink(30, 20e6),
    plan: { edgeBatchSize: 8, classes: [{ budgetMs: 500, tier: 'tier-c1', batchSize: batch }], sendWhenFull: true },
    quantile: 'q95',
    safetyMarginMs: 10,
    maxBatch: 64,
    pricing: FC3_PRICING,
  });
  // Backlog: 1,000 requests with a 500 ms budget and a plan batch of 16 → many batches leave at once.
  const backlog = base(mkQueue(() => 500), 16);
  // What one call does (uploads share the 20 Mbit/s link: only the first batches are on time).
  const once = decide(backlog, now).dispatch;
  const onTime = once.filter((o) => !o.atRisk).length;
  let n = 0;
  const us = time('decide-backlog', 3000, () => {
    n += decide(backlog, now).dispatch.length;
  });
  rows.push({ what: `decide(), 1,000 queued, backlog drains (plan batch 16: ${onTime} batches on time, ${once.length - onTime} at risk)`, value: `${us.toFixed(1)} µs`, target: '≤ 200 µs', ok: us <= 200 });
  const waiting = base(mkQueue(() => 60_000), 2000);
  const us2 = time('decide-wait', 20_000, () => {
    n += decide(waiting, now).dispatch.length;
  });
  rows.push({ what: 'decide(), 1,000 queued, nothing due (edge busy)', value: `${us2.toFixed(1)} µs`, target: '≤ 200 µs', ok: us2 <= 200 });
  if (n < 0) console.log(n);
}

const w = Math.max(...rows.map((r) => r.what.length));
console.log(`${'measure'.padEnd(w)}  ${'value'.padStart(10)}  target    ok`);
for (const r of rows) console.log(`${r.what.padEnd(w)}  ${r.value.padStart(10)}  ${r.target.padEnd(8)}  ${r.ok ? 'yes' : 'NO'}`);
console.log(`node ${process.version}, ${new Date(0).toISOString().slice(0, 0)}single thread`);
