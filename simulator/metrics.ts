/** Summary numbers of one policy's run: the row of the results table and of the JSON output. */
import { quantileSorted } from '../shared/stats.ts';
import type { RunTrace } from './engine.ts';

export interface PolicySummary {
  requests: number;
  served: number;
  rejected: number;
  /** Requests served by their deadline / all requests. */
  sloAttainment: number;
  costUsd: number;
  /** FC cost per million requests (all requests, served or not). */
  costPerMillionUsd: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  /** Share of served requests that ran on the edge. */
  edgeShare: number | null;
  invocations: number | null;
  coldStarts: number | null;
  replans: number | null;
  /** Requests left in the policy's queue at the end (always 0 for a correct policy). */
  stranded?: number;
  rejectCodes?: Record<string, number>;
}

/** Summarise a run. */
export function summarize(t: RunTrace): PolicySummary {
  const lat: number[] = [];
  let onTime = 0;
  let edge = 0;
  for (let i = 0; i < t.requests; i++) {
    if (t.servedAt[i] === 0) continue;
    lat.push(t.latencyMs[i]);
    onTime += t.onTime[i];
    if (t.servedAt[i] === 1) edge++;
  }
  const sorted = Float64Array.from(lat).sort();
  const rejected = Object.values(t.rejectCodes).reduce((s, x) => s + x, 0);
  return {
    requests: t.requests,
    served: lat.length,
    rejected: rejected + t.stranded,
    sloAttainment: t.requests > 0 ? onTime / t.requests : 1,
    costUsd: t.costUsd,
    costPerMillionUsd: t.requests > 0 ? (t.costUsd / t.requests) * 1e6 : 0,
    p50Ms: quantileSorted(sorted, 0.5) ?? null,
    p95Ms: quantileSorted(sorted, 0.95) ?? null,
    p99Ms: quantileSorted(sorted, 0.99) ?? null,
    edgeShare: lat.length > 0 ? edge / lat.length : null,
    invocations: t.invocations,
    coldStarts: t.coldStarts,
    replans: t.replans,
    stranded: t.stranded,
    rejectCodes: t.rejectCodes,
  };
}
