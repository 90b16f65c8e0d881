// The load generator: its summary arithmetic, then a real replay of a tiny generated trace
// against the real agent process on loopback (real ONNX, local FC), in-process and as the CLI.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatSummary, prepareArrivals, renderImages, runLoad, summarise, type LoadSummary, type RequestOutcome } from '../cli/load.ts';
import { Rng } from '../shared/rng.ts';
import { REPO, startAgentProcess, type AgentProcess } from './helpers/agent-process.ts';


function outcome(o: Partial<RequestOutcome>): RequestOutcome {
  return { sentAtMs: 0, status: 200, latencyMs: 100, expectedText: 'AB 12', ...o };
}

describe('load summary', () => {
  it('counts answers, right texts, deadlines, cost and routes; failures by status', () => {
    const s = summarise(
      [
        outcome({ text: 'AB  12 ', target: 'edge', batchSize: 2, costUsd: 0, deadlineMet: true, latencyMs: 80 }),
        outcome({ text: 'AB 13', target: 'fc', tier: 'tier-c1-m2048', batchSize: 4, costUsd: 0.00002, deadlineMet: true, latencyMs: 300 }),
        outcome({ text: 'AB 12', target: 'fc', tier: 'tier-c1-m2048', batchSize: 4, costUsd: 0.00002, deadlineMet: false, latencyMs: 1200 }),
        outcome({ status: 503, latencyMs: 2, error: 'overloaded: load shed: queue has 12 waiting' }),
        outcome({ status: 504, latencyMs: 2, error: 'deadline_missed: edge did not answer within 48 ms' }),
        outcome({ status: 504, latencyMs: 2, error: 'deadline_missed: edge did not answer within 51 ms' }),
        outcome({ status: 0, latencyMs: 1, error: 'fetch failed' }),
      ],
      { planned: 8, skipped: 1, durationMs: 1000, deadlineMs: 1000 },
    );
    expect(s).toMatchObject({ planned: 8, sent: 7, skipped: 1, answered: 3, correct: 2, deadlineMet: 2, withinDeadlineClient: 2, failedByStatus: { '503': 1, '504': 2, '0': 1 } });
    // Failures are grouped by the shape of their message, most frequent first.
    expect(s.topErrors[0]).toEqual({ message: 'HTTP 504: deadline_missed: edge did not answer within N ms', count: 2 });
    expect(s.topErrors).toHaveLength(3);
    expect(s.costUsd).toBeCloseTo(0.00004, 12);
    expect(s.costPer1000Usd).toBeCloseTo((0.00004 / 3) * 1000, 12);
    expect(s.routeShares.edge).toBeCloseTo(1 / 3);
    expect(s.routeShares['tier-c1-m2048']).toBeCloseTo(2 / 3);
    expect(s.meanBatchSize).toBeCloseTo(10 / 3);
    expect(s.latencyMs).toMatchObject({ p50: 300, p99: 1200, max: 1200 });
    const table = formatSummary(s);
    expect(table).toMatch(/answered\s+3 \(42\.9%\); failed: 1 × HTTP 503, 2 × HTTP 504, 1 × no answer/);
    expect(table).toMatch(/error\s+2 × HTTP 504: deadline_missed/);
    expect(table).toMatch(/routes\s+tier-c1-m2048 66\.7%, edge 33\.3%/);
  });

  it('prepareArrivals speeds the trace up and cuts it at the duration', () => {
    expect(prepareArrivals([0, 1000, 2000, 3000, 4000], 2, 1.5)).toEqual([0, 500, 1000]);
    expect(() => prepareArrivals([0], 0)).toThrow(/rateScale/);
  });
});

describe('load against a live agent', () => {
  let agent: AgentProcess | undefined;
  let url = '';
  const dir = mkdtempSync(join(tmpdir(), 'seb-load-'));
  const tracePath = join(dir, 'arrivals.txt');

  beforeAll(async () => {
    // 12 arrivals, exponential gaps of mean 60 ms: a tiny generated trace in the Twitter format.
    const rng = new Rng(5);
    writeFileSync(tracePath, `${Array.from({ length: 12 }, () => rng.exponential(1 / 0.06).toFixed(4)).join('\n')}\n`);
    agent = await startAgentProcess();
    url = agent.url;
  });

  afterAll(async () => {
    await agent?.stop();
  });

  it('runLoad sends every arrival, gets every answer and reads the text back', async () => {
    const images = await renderImages(6, 3);
    const { loadArrivals } = await import('../shared/traces/arrivals.ts');
    const arrivalsMs = loadArrivals(tracePath);
    const progress: number[] = [];
    const s = await runLoad({ url, arrivalsMs, deadlineMs: 10_000, images, onProgress: (p) => progress.push(p.answered) });
    expect(s.sent).toBe(12);
    expect(s.answered).toBe(12);
    expect(progress.at(-1)).toBe(12);
    // The OCR model reads clean rendered lines; most answers must be exactly right.
    expect(s.correct).toBeGreaterThanOrEqual(9);
    const shares = Object.values(s.routeShares).reduce((a, b) => a + b, 0);
    expect(shares).toBeCloseTo(1, 9);
    expect(s.latencyMs.p50).toBeGreaterThan(0);
    expect(s.latencyMs.p99).toBeGreaterThanOrEqual(s.latencyMs.p95);
    expect(s.latencyMs.p95).toBeGreaterThanOrEqual(s.latencyMs.p50);
  });

  it('the CLI replays a trace file and prints the table (and writes --json)', async () => {
    const jsonPath = join(dir, 'summary.json');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'cli/load.ts', '--arrivals', tracePath, '--rate-scale', '2', '--duration', '0.4', '--deadline-ms', '10000', '--url', url, '--images', '4', '--json', jsonPath],
      { cwd: REPO, timeout: 45_000 },
    );
    const s = JSON.parse(readFileSync(jsonPath, 'utf8')) as LoadSummary;
    // Twice as fast, cut at 400 ms: exactly the arrivals before 0.4 s after scaling.
    const { loadArrivals } = await import('../shared/traces/arrivals.ts');
    const expected = prepareArrivals(loadArrivals(tracePath), 2, 0.4).length;
    expect(s.sent).toBe(expected);
    expect(s.answered).toBe(expected);
    expect(stdout).toContain(`answered             ${expected} (100.0%)`);
    expect(stdout).toMatch(/latency p50\/p95\/p99\s+\d+ \/ \d+ \/ \d+ ms/);
    expect(stdout).toMatch(/routes\s+\S+ \d+\.\d%/);
  });
});
