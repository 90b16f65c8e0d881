// `npm run profile` end to end: the real edge model and the local FC (real handler, emulated
// tier speed) at two batch sizes; the profile it writes must load with loadProfile().
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadProfile } from '../shared/profile.ts';
import { loadTiers } from '../shared/tiers.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));

describe('npm run profile', () => {
  it('--target local --batch 1,2 --repeat 2 writes a profile loadProfile accepts, and its SVG', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'seb-profile-'));
    const out = join(dir, 'measured.json');
    const svg = join(dir, 'measured.svg');
    const tiers = loadTiers().slice(0, 2); // two tiers keep the run short; all tiers is the default
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'cli/profile.ts', '--target', 'local', '--batch', '1,2', '--repeat', '2', '--tiers', tiers.map((t) => t.key).join(','), '--out', out, '--svg', svg],
      { cwd: REPO, timeout: 50_000 },
    );
    const profile = loadProfile(out);
    expect(Object.keys(profile.targets).sort()).toEqual(['edge', ...tiers.map((t) => t.key)].sort());
    for (const [target, p] of Object.entries(profile.targets)) {
      // 2 batch sizes × 2 timed calls; warm-up and cold calls are not in the fit.
      expect(p.samples, target).toBe(4);
      expect(p.relativeResiduals, target).toHaveLength(4);
      expect(p.aMs + p.kMs, target).toBeGreaterThan(0);
    }
    // The first call on each FC tier starts an instance: reported as a cold start, not fitted.
    for (const t of tiers) expect(profile.targets[t.key].coldStartMs, t.key).toBeGreaterThan(0);
    expect(profile.source).toMatch(/^measured: .*local FC/);
    expect(existsSync(svg)).toBe(true);
    expect(readFileSync(svg, 'utf8')).toMatch(/^<svg[\s\S]*tier-c/);
    for (const t of tiers) expect(stdout).toContain(t.key);
    expect(stdout).toMatch(/≤\s+1000 ms: /);
  });
});
