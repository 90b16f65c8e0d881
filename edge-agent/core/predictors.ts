/** The narrow views of the estimators that the planner and decide() read (easy to fake in tests). */
import type { LatencyQuantile } from './latency-model.ts';

/** Batch latency of one target. {@link LatencyModel} implements it. */
export interface LatencyPredictor {
  /** Warm batch latency at the mean or a quantile. */
  predict(batchSize: number, quantile: LatencyQuantile): number;
  /** Extra latency when the batch lands on a cold instance. */
  readonly coldStartMs: number;
}

/** Edge → FC transfer time. {@link LinkEstimator} implements it. */
export interface TransferPredictor {
  transferMs(bytes: number, quantile: LatencyQuantile): number;
  readonly rttMs: number;
  readonly bandwidthBps: number;
}

/** A fixed latency line (a profile entry), for tests and priors. */
export function linePredictor(p: { aMs: number; kMs: number; residualQ95Ms?: number; residualQ99Ms?: number; coldStartMs?: number }): LatencyPredictor {
  return {
    predict: (b, q) => p.aMs + p.kMs * b + (q === 'q95' ? (p.residualQ95Ms ?? 0) : q === 'q99' ? (p.residualQ99Ms ?? 0) : 0),
    coldStartMs: p.coldStartMs ?? 0,
  };
}

/** A fixed link (rtt + bits / bandwidth), for tests and priors. */
export function fixedLink(rttMs: number, bandwidthBps: number): TransferPredictor {
  return { rttMs, bandwidthBps, transferMs: (bytes) => transferTimeMs(rttMs, bytes, bandwidthBps) };
}

/** Transfer time of `bytes` over a link: rtt + bits / bandwidth (bits/s). */
export function transferTimeMs(rttMs: number, bytes: number, bandwidthBps: number): number {
  return rttMs + (bytes * 8000) / bandwidthBps;
}

/** Items/s that `servers` parallel servers finish, each running batches of `batch` in `batchMs`. */
export function throughputRps(servers: number, batch: number, batchMs: number): number {
  return (servers * batch * 1000) / Math.max(batchMs, 1e-6);
}
