import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cgroupQuotaCores, chooseEdgeLayout, deviceCores } from '../edge-agent/backends/edge-layout.ts';
import { createLocalOnnxBackend } from '../edge-agent/backends/local-onnx.ts';
import { parseConfig } from '../edge-agent/config.ts';
import { startAgent } from '../edge-agent/service/agent.ts';
import { renderTextLine } from '../shared/text-line-images.ts';

describe('edge layout', () => {
  it('reads a cgroup CPU quota in whole cores, v2 and v1, and none when unlimited', () => {
    expect(cgroupQuotaCores('200000 100000\n')).toBe(2);
    expect(cgroupQuotaCores('150000 100000')).toBe(2); // 1.5 cores still run two threads
    expect(cgroupQuotaCores('50000 100000')).toBe(1);
    expect(cgroupQuotaCores('max 100000\n')).toBeUndefined();
    expect(cgroupQuotaCores(undefined, { quotaUs: '300000\n', periodUs: '100000\n' })).toBe(3);
    expect(cgroupQuotaCores(undefined, { quotaUs: '-1', periodUs: '100000' })).toBeUndefined();
    expect(cgroupQuotaCores(undefined)).toBeUndefined();
    const here = deviceCores();
    expect(here.cores).toBeGreaterThanOrEqual(1);
    expect(here.cores).toBeLessThanOrEqual(availableParallelism());
  });

  it('one single-threaded worker per core, one core left to a local FC on the device, configured values kept', () => {
    const four = { cores: 4, limitedBy: 'cpus' as const };
    expect(chooseEdgeLayout({ device: four, fcOnDevice: false })).toMatchObject({ workers: 4, intraOpThreads: 1 });
    const shared = chooseEdgeLayout({ device: four, fcOnDevice: true });
    expect(shared).toMatchObject({ workers: 3, intraOpThreads: 1 });
    expect(shared.reason).toContain('1 left to the local FC');
    expect(chooseEdgeLayout({ device: { cores: 1, limitedBy: 'cpus' }, fcOnDevice: true })).toMatchObject({ workers: 1, intraOpThreads: 1 });
    expect(chooseEdgeLayout({ device: { cores: 2, limitedBy: 'cgroup' }, fcOnDevice: false }).reason).toContain('cgroup quota');
    expect(chooseEdgeLayout({ device: four, fcOnDevice: false, workers: 1 })).toMatchObject({ workers: 1, intraOpThreads: 1 });
    expect(chooseEdgeLayout({ device: four, fcOnDevice: false, intraOpThreads: 2 })).toMatchObject({ workers: 2, intraOpThreads: 2 });
    expect(chooseEdgeLayout({ device: four, fcOnDevice: false, workers: 3, intraOpThreads: 2 })).toMatchObject({ workers: 3, intraOpThreads: 2, reason: 'configured' });
  });

  it('the agent with defaults runs one worker per core edge-only and says so in GET /v1/plan', async () => {
    const agent = await startAgent(parseConfig({ port: 0, backends: ['edge'], logLevel: 'silent' }));
    try {
      const want = chooseEdgeLayout({ device: deviceCores(), fcOnDevice: false });
      const plan = (await (await fetch(`${agent.url}/v1/plan`)).json()) as { edge: Record<string, unknown> };
      expect(plan.edge).toMatchObject({ workers: want.workers, intraOpThreads: 1, layout: want.reason });
      expect(plan.edge.calibratedAt).toEqual(expect.any(String));
      // Every worker serves: as many requests at once as workers, each answered with its own text.
      const texts = Array.from({ length: want.workers * 2 }, (_, i) => `LANE ${i + 1}`);
      const answers = await Promise.all(
        texts.map(async (t) => {
          const r = await fetch(`${agent.url}/v1/infer`, { method: 'POST', headers: { 'content-type': 'image/png', 'x-deadline-ms': '20000' }, body: await renderTextLine(t) });
          return ((await r.json()) as { text?: string }).text;
        }),
      );
      expect(answers).toEqual(texts);
    } finally {
      await agent.shutdown(2000);
    }
  }, 60_000);

  it('a measured chunk is kept between starts: the next start reads it back, a damaged file is measured again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'seb-cal-'));
    const png = await renderTextLine('CACHE 42');
    const start = () => createLocalOnnxBackend({ model: 'ocr-cls', workers: 1, intraOpThreads: 1, calibrationCacheDir: dir });
    const first = await start();
    await first.close();
    expect(first.calibrationOrigin?.cached).toBe(false);
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(files).toHaveLength(1);
    const stored = JSON.parse(readFileSync(join(dir, files[0]), 'utf8'));
    expect(stored.chunkSize === 'whole' ? Infinity : stored.chunkSize).toBe(first.chunkSizes[0]);

    const second = await start();
    try {
      expect(second.calibrationOrigin).toEqual({ cached: true, measuredAt: first.calibrationOrigin!.measuredAt });
      expect(second.chunkSizes[0]).toBe(first.chunkSizes[0]);
      expect(second.calibrations[0]).toEqual(first.calibrations[0]);
      // It serves as a measured one does.
      const out = await second.run('edge', [{ id: 'x', type: 'image/png', bytes: png }], { timeoutMs: 30_000 });
      expect(out.results.map((r) => r.id)).toEqual(['x']);
    } finally {
      await second.close();
    }

    writeFileSync(join(dir, files[0]), '{"chunkSize": 0');
    const third = await start();
    await third.close();
    expect(third.calibrationOrigin?.cached).toBe(false);
    expect(readCalibrationChunk(join(dir, files[0]))).toBe(third.chunkSizes[0]);
  }, 60_000);
});

function readCalibrationChunk(file: string): number {
  const v = JSON.parse(readFileSync(file, 'utf8'));
  return v.chunkSize === 'whole' ? Infinity : v.chunkSize;
}
