/**
 * Tier catalogue: the FC functions declared in `s.yaml`, one per (vCPU, memory) size.
 *
 * `s.yaml` is the single source of truth; nothing else in the repo lists tiers. This loader
 * resolves the parts of Serverless Devs' YAML the project uses (`vars`, `template` + `extend`,
 * `${vars.x}`, `${env('NAME', 'default')}`) and validates every function against FC 3.0's limits.
 * A test cross-checks the result against the real CLI's `npx s preview -o json`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** Path of the repo's `s.yaml`. */
export const DEFAULT_S_YAML = fileURLToPath(new URL('../s.yaml', import.meta.url));

/** One FC function size the scheduler may send batches to. */
export interface Tier {
  /** Resource key in s.yaml, e.g. `tier-c1-m2048`. */
  readonly key: string;
  /** FC function name, e.g. `seb-ocr-c1-m2048`. */
  readonly functionName: string;
  readonly vcpu: number;
  readonly memoryMb: number;
  /** 512 or 10240. */
  readonly diskSizeMb: number;
  /** Function timeout. */
  readonly timeoutS: number;
  /** Requests one instance serves at once (1 = one batch per instance). */
  readonly instanceConcurrency: number;
  readonly region: string;
  readonly runtime: string;
  readonly handler: string;
  readonly initializer?: string;
  /** Code directory, relative to s.yaml. */
  readonly code: string;
  readonly environmentVariables: Readonly<Record<string, string>>;
}

const EPS = 1e-9;

/** FC 3.0 function props the project relies on, with FC's documented limits. */
export const fc3FunctionProps = z
  .object({
    functionName: z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]{0,127}$/, 'FC function names are 1-128 of [A-Za-z0-9_-], not starting with a digit or dash'),
    region: z.string().min(1),
    runtime: z.string().min(1),
    handler: z.string().min(1),
    code: z.string().min(1),
    cpu: z
      .number()
      .min(0.05)
      .max(16)
      .refine((c) => Math.abs(c / 0.05 - Math.round(c / 0.05)) < EPS, 'cpu must be a multiple of 0.05 vCPU'),
    memorySize: z
      .number()
      .int()
      .min(128)
      .max(32768)
      .refine((m) => m % 64 === 0, 'memorySize must be a multiple of 64 MB'),
    diskSize: z.union([z.literal(512), z.literal(10240)]).default(512),
    timeout: z.number().int().min(1).max(86400).default(60),
    instanceConcurrency: z.number().int().min(1).max(200).default(1),
    environmentVariables: z.record(z.string(), z.coerce.string()).default({}),
    instanceLifecycleConfig: z
      .object({ initializer: z.object({ handler: z.string(), timeout: z.number().optional() }).optional() })
      .optional(),
  })
  .refine((p) => {
    const gb = p.memorySize / 1024;
    return gb >= p.cpu - EPS && gb <= 4 * p.cpu + EPS;
  }, 'vCPU : memory GB must be between 1:1 and 1:4')
  // The handler sizes its threads from SEB_VCPU (FC does not tell a function its vCPU): a value
  // that drifted from cpu would run a tier with the wrong thread count.
  .refine((p) => p.environmentVariables.SEB_VCPU === undefined || Math.abs(Number(p.environmentVariables.SEB_VCPU) - p.cpu) < EPS, {
    message: 'environmentVariables.SEB_VCPU must equal cpu',
  });

/** Error thrown when s.yaml cannot be read or a tier breaks FC's limits. */
export class TierConfigError extends Error {
  override name = 'TierConfigError';
}

type Env = Readonly<Record<string, string | undefined>>;

/** Resolve `${vars.x}` and `${env('NAME', 'default')}` inside one string, as Serverless Devs does. */
function resolveString(s: string, vars: Record<string, unknown>, env: Env): unknown {
  const one = (expr: string): unknown => {
    const e = expr.trim();
    const envCall = /^env\(\s*['"]([^'"]+)['"]\s*(?:,\s*['"]([^'"]*)['"]\s*)?\)$/.exec(e);
    if (envCall) return env[envCall[1]] ?? envCall[2] ?? '';
    const v = /^vars\.([A-Za-z0-9_-]+)$/.exec(e);
    if (v) {
      if (!(v[1] in vars)) throw new TierConfigError(`s.yaml refers to \${vars.${v[1]}}, which is not declared under vars`);
      return vars[v[1]];
    }
    throw new TierConfigError(`s.yaml uses the expression \${${e}}, which the tier loader does not support`);
  };
  const whole = /^\$\{([^}]*)\}$/.exec(s);
  if (whole) return one(whole[1]); // keep numbers numeric
  return s.replace(/\$\{([^}]*)\}/g, (_, e: string) => String(one(e)));
}

function resolveDeep(x: unknown, vars: Record<string, unknown>, env: Env): unknown {
  if (typeof x === 'string') return resolveString(x, vars, env);
  if (Array.isArray(x)) return x.map((v) => resolveDeep(v, vars, env));
  if (x && typeof x === 'object') {
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, resolveDeep(v, vars, env)]));
  }
  return x;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return !!x && typeof x === 'object' && !Array.isArray(x);
}

/** Deep merge used by `extend`: the resource's own props win over the template's. */
function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObject(v) && isObject(out[k]) ? merge(out[k] as Record<string, unknown>, v) : v;
  return out;
}

/**
 * Resolve an s.yaml document to the props of each fc3 resource (what `s preview` shows).
 * @returns resource key → resolved props
 */
export function resolveSYaml(text: string, env: Env = process.env): Record<string, Record<string, unknown>> {
  const doc = parseYaml(text) as unknown;
  if (!isObject(doc)) throw new TierConfigError('s.yaml is not a YAML mapping');
  const vars = resolveDeep(doc.vars ?? {}, {}, env) as Record<string, unknown>;
  const templates = (doc.template ?? {}) as Record<string, Record<string, unknown>>;
  const resources = doc.resources;
  if (!isObject(resources)) throw new TierConfigError('s.yaml has no resources');
  const out: Record<string, Record<string, unknown>> = {};
  for (const [key, res] of Object.entries(resources)) {
    if (!isObject(res) || res.component !== 'fc3') continue;
    let props = (res.props ?? {}) as Record<string, unknown>;
    const ext = (res.extend as { name?: string } | undefined)?.name;
    if (ext) {
      const tpl = templates[ext];
      if (!tpl) throw new TierConfigError(`resource ${key} extends template ${ext}, which s.yaml does not declare`);
      props = merge(tpl, props);
    }
    out[key] = resolveDeep(props, vars, env) as Record<string, unknown>;
  }
  return out;
}

/**
 * Load and validate the tier catalogue, ordered by vCPU then memory.
 * @example
 * const tiers = loadTiers();          // from the repo's s.yaml
 * tiers.map((t) => t.functionName);   // ['seb-ocr-c0_5-m1024', ...]
 */
export function loadTiers(path: string = DEFAULT_S_YAML, env: Env = process.env): Tier[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new TierConfigError(`cannot read ${path}`, { cause });
  }
  return tiersFromSYaml(text, env);
}

/** Same as {@link loadTiers}, from the YAML text. */
export function tiersFromSYaml(text: string, env: Env = process.env): Tier[] {
  const resolved = resolveSYaml(text, env);
  const tiers: Tier[] = [];
  for (const [key, raw] of Object.entries(resolved)) {
    const r = fc3FunctionProps.safeParse(raw);
    if (!r.success) {
      const why = r.error.issues.map((i) => `${i.path.join('.') || '(function)'}: ${i.message}`).join('; ');
      throw new TierConfigError(`s.yaml resource ${key} breaks FC 3.0 limits: ${why}`);
    }
    const p = r.data;
    tiers.push({
      key,
      functionName: p.functionName,
      vcpu: p.cpu,
      memoryMb: p.memorySize,
      diskSizeMb: p.diskSize,
      timeoutS: p.timeout,
      instanceConcurrency: p.instanceConcurrency,
      region: p.region,
      runtime: p.runtime,
      handler: p.handler,
      initializer: p.instanceLifecycleConfig?.initializer?.handler,
      code: p.code,
      environmentVariables: p.environmentVariables,
    });
  }
  if (tiers.length === 0) throw new TierConfigError('s.yaml declares no fc3 resources');
  const names = new Set(tiers.map((t) => t.functionName));
  if (names.size !== tiers.length) throw new TierConfigError('two s.yaml resources share one functionName');
  return tiers.sort((a, b) => a.vcpu - b.vcpu || a.memoryMb - b.memoryMb);
}
