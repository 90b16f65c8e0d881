/**
 * How many ONNX workers the edge runs, and with how many intra-op threads each: chosen at
 * start-up from the cores this process may use, unless the configuration fixes them.
 *
 * The rule: one worker per core, one intra-op thread each. Measured on a 2-core box, the agent
 * edge-only with 16 closed-loop clients on the same cores (one text line, PP-OCRv4): 2 workers ×
 * 1 thread 70–76 req/s, 1 worker × 2 threads 46–58, 1 × 1 46–50; raw ONNX Runtime with no
 * HTTP at all peaks at 81 items/s (2 threads, batch 8). Two independent single-threaded runs
 * share the cores gracefully; one two-threaded run waits at every operator for its slower
 * thread, and with the HTTP path and the load's own clients on the same cores one thread is
 * often descheduled. The HTTP path itself needs no core of its own: about 0.1 ms of the event
 * loop per request against 13–20 ms of inference per image.
 *
 * When the FC the agent starts itself runs on this device (the embedded local FC of `npm start`),
 * its instances run the same model on the same cores: the edge leaves it one core, so the
 * emulated tiers answer near their profiled speed instead of starving.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** The cores this process may use, and what limited them. */
export interface DeviceCores {
  readonly cores: number;
  /** `cpus` (the scheduler's affinity mask) or `cgroup` (a CPU quota below it). */
  readonly limitedBy: 'cpus' | 'cgroup';
}

/**
 * A CPU quota in whole cores (rounded up: a 1.5-core quota still runs two threads) from cgroup v2's
 * `cpu.max` ("200000 100000", or "max 100000" for none) or v1's quota and period; none: undefined.
 */
export function cgroupQuotaCores(cpuMax: string | undefined, v1?: { quotaUs: string; periodUs: string }): number | undefined {
  const [quota, period] = cpuMax !== undefined ? cpuMax.trim().split(/\s+/) : v1 ? [v1.quotaUs.trim(), v1.periodUs.trim()] : [];
  const q = Number(quota);
  const p = Number(period);
  if (!(q > 0) || !(p > 0)) return undefined; // "max", -1 (v1's none) or unreadable
  return Math.max(1, Math.ceil(q / p));
}

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The cores available here: the affinity mask, capped by a cgroup CPU quota (containers). */
export function deviceCores(): DeviceCores {
  const cpus = availableParallelism();
  const v1Quota = readOr('/sys/fs/cgroup/cpu/cpu.cfs_quota_us');
  const v1Period = readOr('/sys/fs/cgroup/cpu/cpu.cfs_period_us');
  const quota = cgroupQuotaCores(readOr('/sys/fs/cgroup/cpu.max'), v1Quota && v1Period ? { quotaUs: v1Quota, periodUs: v1Period } : undefined);
  return quota !== undefined && quota < cpus ? { cores: quota, limitedBy: 'cgroup' } : { cores: cpus, limitedBy: 'cpus' };
}

/** Workers × intra-op threads of the edge, and why. */
export interface EdgeLayout {
  readonly workers: number;
  readonly intraOpThreads: number;
  /** How it was chosen, as the start-up line and `GET /v1/plan` say it. */
  readonly reason: string;
}

export interface EdgeLayoutInput {
  readonly device: DeviceCores;
  /** The FC's instances share this device's cores (the embedded local FC). */
  readonly fcOnDevice: boolean;
  /** Configured workers; 0 or unset: choose. */
  readonly workers?: number;
  /** Configured intra-op threads per worker; 0 or unset: choose. */
  readonly intraOpThreads?: number;
}

/**
 * The edge's layout: what the configuration fixes, the rest from the cores left to the edge.
 * @example chooseEdgeLayout({ device: { cores: 4, limitedBy: 'cpus' }, fcOnDevice: true }) // 3 workers × 1 thread
 */
export function chooseEdgeLayout(i: EdgeLayoutInput): EdgeLayout {
  const { cores, limitedBy } = i.device;
  const left = i.fcOnDevice && cores > 1 ? cores - 1 : cores;
  const budget = `${left} of ${cores} core${cores > 1 ? 's' : ''}${limitedBy === 'cgroup' ? ' (cgroup quota)' : ''}${i.fcOnDevice && cores > 1 ? ', 1 left to the local FC on this device' : ''}`;
  const fixedW = i.workers ? i.workers : undefined;
  const fixedT = i.intraOpThreads ? i.intraOpThreads : undefined;
  if (fixedW && fixedT) return { workers: fixedW, intraOpThreads: fixedT, reason: 'configured' };
  if (fixedW) return { workers: fixedW, intraOpThreads: 1, reason: 'workers configured, 1 thread each' };
  if (fixedT) return { workers: Math.max(1, Math.floor(left / fixedT)), intraOpThreads: fixedT, reason: `threads configured; workers for ${budget}` };
  return { workers: left, intraOpThreads: 1, reason: `one worker per core: ${budget}` };
}
