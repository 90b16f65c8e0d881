import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { costOf, FC3_PRICING } from '../../shared/pricing.ts';
import { decide, fixedLink, linePredictor, makePlan, type DecideState, type DecideTarget, type PlannerInput } from '../../edge-agent/core/index.ts';
import { drive } from './drive.ts';

const tierArb = fc.record({
  vcpu: fc.constantFrom(0.5, 1, 2, 4, 8),
  aMs: fc.double({ min: 0, max: 50, noNaN: true }),
  kMs: fc.double({ min: 0.5, max: 60, noNaN: true }),
  q95: fc.double({ min: 0, max: 40, noNaN: true }),
});

describe('makePlan', () => {
  it('chooses per deadline class the (tier, batch) a brute force over tiers × batch sizes finds', () => {
    fc.assert(
      fc.property(
        fc.array(tierArb, { minLength: 1, maxLength: 6 }),
        fc.double({ min: 0, max: 300, noNaN: true }),
        fc.double({ min: 1e6, max: 100e6, noNaN: true }),
        fc.array(fc.integer({ min: 50, max: 3000 }), { minLength: 1, maxLength: 4 }),
        (specs, rateRps, bps, budgets) => {
          const tiers = specs.map((s, i) => ({
            tier: { key: `t${i}`, vcpu: s.vcpu, memoryMb: 2048 * s.vcpu },
            latency: linePredictor({ aMs: s.aMs, kMs: s.kMs, residualQ95Ms: s.q95 }),
            warm: true,
          }));
          const input: PlannerInput = {
            rateRps,
            link: fixedLink(30, bps),
            itemBytes: 20000,
            classBudgetsMs: budgets,
            edge: null,
            tiers,
            pricing: FC3_PRICING,
            maxBatch: 16,
            quantile: 'q95',
            safetyMarginMs: 10,
            edgeUtilisationCap: 0.8,
            tierMaxInstances: 5,
          };
          const plan = makePlan(input);
          budgets.forEach((budget, ci) => {
            // Brute force, written from the definition.
            let best: { tier: string; b: number; cost: number } | null = null;
            for (const [i, s] of specs.entries()) {
              for (let b = 1; b <= 16; b++) {
                const wait = b === 1 ? 0 : rateRps > 0 ? ((b - 1) * 1000) / rateRps : Infinity;
                const infer = s.aMs + s.kMs * b + s.q95;
                const total = wait + 30 + (b * 20000 * 8000) / bps + infer + 10;
                const stable = rateRps <= (5 * b * 1000) / Math.max(s.aMs + s.kMs * b, 1e-6);
                if (total > budget || !stable) continue;
                const cost = costOf({ vcpu: s.vcpu, memoryMb: 2048 * s.vcpu }, s.aMs + s.kMs * b).usd / b;
                if (!best || cost < best.cost - 1e-15) best = { tier: `t${i}`, b, cost };
              }
            }
            const got = plan.cloud.classes[ci];
            expect(got.feasible).toBe(best !== null);
            if (best) {
              expect(got.costPerRequestUsd).toBeCloseTo(best.cost, 15);
              if (Math.abs(got.costPerRequestUsd - best.cost) > 1e-15) expect({ tier: got.tier, b: got.batchSize }).toEqual({ tier: best.tier, b: best.b });
            }
          });
        },
      ),
      { numRuns: 300, seed: 42 },
    );
  });
});

const reqArb = fc.record({ arrivalOffsetMs: fc.integer({ min: 0, max: 500 }), budgetMs: fc.integer({ min: 20, max: 3000 }), bytes: fc.integer({ min: 1000, max: 200000 }) });

describe('decide', () => {
  it('never dispatches to a target predicted to miss while a feasible one exists', () => {
    fc.assert(
      fc.property(
        fc.array(reqArb, { minLength: 1, maxLength: 80 }),
        fc.array(tierArb, { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 1, max: 32 }),
        fc.boolean(),
        (reqs, specs, edgeFree, planBatch, anyCold) => {
          const now = 1000;
          const queue = reqs
            .map((r, i) => ({ id: `r${i}`, arrivalMs: now - r.arrivalOffsetMs, deadlineMs: now - r.arrivalOffsetMs + r.budgetMs, bytes: r.bytes }))
            .sort((a, b) => a.deadlineMs - b.deadlineMs);
          const edgeLat = linePredictor({ aMs: 2, kMs: 15, residualQ95Ms: 8 });
          const targets: DecideTarget[] = [{ id: 'edge', isEdge: true, freeSlots: edgeFree, warmIdle: Infinity, latency: edgeLat }];
          specs.forEach((s, i) =>
            targets.push({
              id: `t${i}`,
              isEdge: false,
              freeSlots: 1000,
              warmIdle: anyCold && i === 0 ? 0 : 1000,
              latency: linePredictor({ aMs: s.aMs, kMs: s.kMs, residualQ95Ms: s.q95, coldStartMs: 800 }),
              tier: { vcpu: s.vcpu, memoryMb: 2048 * s.vcpu },
            }),
          );
          const link = fixedLink(30, 20e6);
          const st: DecideState = {
            queue,
            targets,
            link,
            plan: { edgeBatchSize: 8, classes: [{ budgetMs: 20, tier: 't0', batchSize: planBatch }], sendWhenFull: true },
            quantile: 'q95',
            safetyMarginMs: 10,
            maxBatch: 32,
            pricing: FC3_PRICING,
          };
          const d = decide(st, now);
          const byId = new Map(queue.map((r) => [r.id, r]));
          let edgeUsed = 0;
          // Uploads share the link: a cloud batch's transfer waits for the ones sent before it.
          let uplinkAhead = 0;
          for (const o of d.dispatch) {
            const reqsIn = o.requestIds.map((id) => byId.get(id)!);
            const minDeadline = Math.min(...reqsIn.map((r) => r.deadlineMs));
            const bytes = reqsIn.reduce((s, r) => s + r.bytes, 0);
            const t = targets.find((x) => x.id === o.target)!;
            const cold = !t.isEdge && t.warmIdle <= 0;
            const predicted = (t.isEdge ? 0 : link.transferMs(uplinkAhead + bytes, 'q95')) + t.latency.predict(reqsIn.length, 'q95') + (cold ? t.latency.coldStartMs : 0);
            expect(o.predictedMs).toBeCloseTo(predicted, 9);
            if (!o.atRisk) expect(now + predicted + 10).toBeLessThanOrEqual(minDeadline + 1e-9);
            else {
              // Nothing available could carry even this one request in time.
              expect(o.requestIds.length).toBe(1);
              const head = reqsIn[0];
              for (const x of targets) {
                if (x.isEdge && edgeUsed >= edgeFree) continue;
                const xCold = !x.isEdge && x.warmIdle <= 0;
                const ms = (x.isEdge ? 0 : link.transferMs(uplinkAhead + head.bytes, 'q95')) + x.latency.predict(1, 'q95') + (xCold ? x.latency.coldStartMs : 0);
                expect(now + ms + 10).toBeGreaterThan(head.deadlineMs);
              }
            }
            if (o.target === 'edge') edgeUsed++;
            else uplinkAhead += bytes;
          }
          expect(edgeUsed).toBeLessThanOrEqual(edgeFree);
          // Decisions consume an EDF prefix exactly once.
          const out = [...d.reject.map((r) => r.requestId), ...d.dispatch.flatMap((o) => o.requestIds)];
          expect(new Set(out).size).toBe(out.length);
          expect(out.sort()).toEqual(queue.slice(0, out.length).map((r) => r.id).sort());
          expect(d.wakeAtMs === null).toBe(out.length === queue.length);
        },
      ),
      { numRuns: 300, seed: 7 },
    );
  });

  it('dispatches or rejects every admitted request exactly once over repeated calls with advancing time', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 100, max: 1500 }), fc.double({ min: 5, max: 150, noNaN: true }), (seed, edgeWorkers, budgetMs, rate) => {
        const r = drive({ seed, durationMs: 8000, rateAt: () => rate, budgetMs, scheduler: { edgeWorkers, maxQueue: 200 } });
        // Let every deadline pass: the queue must drain.
        const d = r.scheduler.decide(8000 + 10 * budgetMs + 5000);
        for (const x of d.reject) r.outcomes.set(x.requestId, (r.outcomes.get(x.requestId) ?? 0) + 1);
        for (const x of d.dispatch) for (const id of x.requestIds) r.outcomes.set(id, (r.outcomes.get(id) ?? 0) + 1);
        expect(r.scheduler.queueDepth()).toBe(0);
        for (const id of r.admitted) expect(r.outcomes.get(id), id).toBe(1);
        for (const id of r.outcomes.keys()) expect(r.admitted.has(id)).toBe(true);
      }),
      { numRuns: 25, seed: 11 },
    );
  });
});
