import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULT_S_YAML, TierConfigError, loadTiers, resolveSYaml, tiersFromSYaml } from '../shared/tiers.ts';
import { readFileSync } from 'node:fs';

const REPO = fileURLToPath(new URL('..', import.meta.url));

/** What the real Serverless Devs CLI resolves s.yaml to (env cleared of our overrides). */
function sPreview(): { resources: Record<string, { component: string; props: Record<string, unknown> }> } {
  const env = { ...process.env };
  delete env.FC_REGION;
  delete env.SEB_PREFIX;
  const out = execFileSync('npx', ['s', 'preview', '-o', 'json'], { cwd: REPO, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  // The CLI prints a WARN line (e.g. about running as root) before the JSON.
  return JSON.parse(out.slice(out.indexOf('{')));
}

const S_YAML = readFileSync(DEFAULT_S_YAML, 'utf8');
const ENV = {};

/** s.yaml with one resource's props edited. */
function withProps(props: Record<string, number>): string {
  let text = S_YAML;
  for (const [k, v] of Object.entries(props)) text = text.replace(new RegExp(`(tier-c1-m2048:[\\s\\S]*?${k}: )[^\\n]+`), `$1${v}`);
  return text;
}

describe('loadTiers against `s preview`', () => {
  const preview = sPreview();
  const fc3 = Object.entries(preview.resources).filter(([, r]) => r.component === 'fc3');
  const tiers = loadTiers(DEFAULT_S_YAML, ENV);

  it('s.yaml declares at least 5 fc3 resources and the loader returns one tier each', () => {
    expect(fc3.length).toBeGreaterThanOrEqual(5);
    expect(tiers.map((t) => t.key).sort()).toEqual(fc3.map(([k]) => k).sort());
  });

  it('every tier matches the CLI-resolved props (name, cpu, memory, runtime, handler, code, env)', () => {
    for (const [key, r] of fc3) {
      const t = tiers.find((x) => x.key === key)!;
      const p = r.props as Record<string, any>;
      expect({ functionName: t.functionName, vcpu: t.vcpu, memoryMb: t.memoryMb, region: t.region, runtime: t.runtime, handler: t.handler, code: t.code, timeoutS: t.timeoutS, diskSizeMb: t.diskSizeMb, instanceConcurrency: t.instanceConcurrency, environmentVariables: t.environmentVariables, initializer: t.initializer }).toEqual({
        functionName: p.functionName,
        vcpu: p.cpu,
        memoryMb: p.memorySize,
        region: p.region,
        runtime: p.runtime,
        handler: p.handler,
        code: p.code,
        timeoutS: p.timeout,
        diskSizeMb: p.diskSize,
        instanceConcurrency: p.instanceConcurrency,
        environmentVariables: p.environmentVariables,
        initializer: p.instanceLifecycleConfig?.initializer?.handler,
      });
    }
  });

  it('resolveSYaml gives the same props as the CLI for every fc3 resource', () => {
    const mine = resolveSYaml(S_YAML, ENV);
    for (const [key, r] of fc3) expect(mine[key]).toEqual(r.props);
  });

  it('tiers are ordered by vCPU and respect FC limits', () => {
    for (let i = 1; i < tiers.length; i++) expect(tiers[i].vcpu).toBeGreaterThanOrEqual(tiers[i - 1].vcpu);
    for (const t of tiers) {
      expect(t.memoryMb / 1024).toBeGreaterThanOrEqual(t.vcpu);
      expect(t.memoryMb / 1024).toBeLessThanOrEqual(4 * t.vcpu);
    }
  });
});

describe('tiersFromSYaml validation', () => {
  it('accepts the unmodified s.yaml text', () => {
    expect(tiersFromSYaml(S_YAML, ENV).length).toBeGreaterThanOrEqual(5);
  });

  it('rejects a tier with more than 4 GB per vCPU', () => {
    expect(() => tiersFromSYaml(withProps({ cpu: 0.5, memorySize: 4096 }), ENV)).toThrow(/tier-c1-m2048.*1:1 and 1:4/);
  });

  it('rejects a tier with less than 1 GB per vCPU', () => {
    expect(() => tiersFromSYaml(withProps({ cpu: 4, memorySize: 2048 }), ENV)).toThrow(/tier-c1-m2048.*1:1 and 1:4/);
  });

  it('rejects a cpu that is not a multiple of 0.05', () => {
    expect(() => tiersFromSYaml(withProps({ cpu: 1.03 }), ENV)).toThrow(/cpu must be a multiple of 0.05/);
  });

  it('rejects a memorySize that is not a multiple of 64 MB', () => {
    expect(() => tiersFromSYaml(withProps({ memorySize: 2050 }), ENV)).toThrow(/memorySize must be a multiple of 64/);
  });

  it('throws TierConfigError (not a bare error) for a bad tier', () => {
    expect(() => tiersFromSYaml(withProps({ memorySize: 2050 }), ENV)).toThrow(TierConfigError);
  });

  it('every tier sets SEB_VCPU (the handler\'s thread count on FC) to its own cpu', () => {
    for (const t of tiersFromSYaml(S_YAML, ENV)) expect(Number(t.environmentVariables.SEB_VCPU), t.key).toBe(t.vcpu);
  });

  it('rejects an SEB_VCPU that differs from the tier\'s cpu', () => {
    const drifted = S_YAML.replace(/(tier-c1-m2048:[\s\S]*?SEB_VCPU: )"1"/, '$1"4"');
    expect(drifted).not.toBe(S_YAML);
    expect(() => tiersFromSYaml(drifted, ENV)).toThrow(/tier-c1-m2048.*SEB_VCPU must equal cpu/);
  });

  it('resolves ${env(...)} from the given environment', () => {
    const tiers = tiersFromSYaml(S_YAML, { SEB_PREFIX: 'other', FC_REGION: 'cn-shanghai' });
    expect(tiers.every((t) => t.functionName.startsWith('other-') && t.region === 'cn-shanghai')).toBe(true);
  });
});
