import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../shared/rng.ts';

const dir = mkdtempSync(join(tmpdir(), 'seb-sim-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KEYS = ['requests', 'served', 'rejected', 'sloAttainment', 'costUsd', 'costPerMillionUsd', 'p50Ms', 'p95Ms', 'p99Ms', 'edgeShare', 'invocations', 'coldStarts', 'replans'];

describe('npm run sim (simulator/main.ts)', () => {
  it('reads generated traces, prints the table, writes the JSON document and the SVG report', () => {
    const rng = new Rng(4);
    // 20 s of Poisson arrivals at 40/s as inter-arrival seconds; a cooked link that drops halfway.
    const gaps = Array.from({ length: 800 }, () => (rng.exponential(40)).toFixed(6));
    writeFileSync(join(dir, 'arrivals.txt'), gaps.join('\n'));
    writeFileSync(join(dir, 'link.cooked'), Array.from({ length: 20 }, (_, s) => `${s}\t${s < 10 ? 8 : 1}`).join('\n'));
    const out = execFileSync(
      process.execPath,
      ['--import', 'tsx', 'simulator/main.ts', '--arrivals', join(dir, 'arrivals.txt'), '--bandwidth', join(dir, 'link.cooked'), '--slo-ms', '800', '--rate-scale', '2', '--policies', 'ours,triton,edge-only,oracle', '--json', join(dir, 'out.json'), '--report', join(dir, 'report')],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    expect(out).toMatch(/\| ours \| 800 \|/);
    const doc = JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8'));
    expect(Object.keys(doc.policies)).toEqual(['ours', 'triton', 'edge-only', 'oracle']);
    for (const p of Object.values(doc.policies) as Record<string, unknown>[]) expect(Object.keys(p).sort()).toEqual([...KEYS].sort());
    expect(doc.config).toMatchObject({ sloMs: 800, rateScale: 2, arrivalsFormat: 'inferred', requests: 800 });
    for (const f of ['timeline.svg', 'routes.svg', 'cost-attainment.svg', 'report.md']) expect(existsSync(join(dir, 'report', f)), f).toBe(true);
    expect(readFileSync(join(dir, 'report', 'timeline.svg'), 'utf8')).toMatch(/^<svg/);
  });

  it('names a bad option value in its error', () => {
    let err = '';
    try {
      execFileSync(process.execPath, ['--import', 'tsx', 'simulator/main.ts', '--arrivals', 'x', '--bandwidth', 'y', '--slo-ms', '500', '--bandwidth-format', 'nope'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      err = String((e as { stderr?: string }).stderr);
    }
    expect(err).toMatch(/--bandwidth-format.*ghent, cooked, mahimahi.*nope/);
  });
});
