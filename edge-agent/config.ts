/**
 * The edge agent's one configuration: defaults < config file (`--config`, JSON or YAML) <
 * environment < command-line flags, validated by a single zod schema.
 *
 * Every option is described once, in {@link OPTIONS}: its flag, env name, default and meaning.
 * `--help` and the validation both come from that table, so they cannot drift apart.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** Backends the agent can run; `noop` stands in for `edge` to measure the agent's overhead. */
export const BACKEND_NAMES = ['edge', 'fc', 'noop'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Message in the house form: "Expected `x` to be …, got `v`". */
function expected(name: string, what: string) {
  return (iss: { input?: unknown }) => `Expected \`${name}\` to be ${what}, got \`${typeof iss.input === 'string' ? iss.input : JSON.stringify(iss.input)}\``;
}

// Strings from flags/env become numbers only when they look like one, so a bad value is
// reported as typed (`abc`), not as `NaN`.
const toNumber = (v: unknown) => (typeof v === 'string' && /^\s*-?\d+(\.\d+)?([eE][+-]?\d+)?\s*$/.test(v) ? Number(v) : v);

const int = (name: string, min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(
    toNumber,
    z
      .number({ error: expected(name, `an integer ${min}–${max}`) })
      .int({ error: expected(name, `an integer ${min}–${max}`) })
      .min(min, { error: expected(name, `an integer ${min}–${max}`) })
      .max(max, { error: expected(name, `an integer ${min}–${max}`) }),
  );

const backendList = z.preprocess(
  (v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v),
  z
    .array(z.enum(BACKEND_NAMES, { error: expected('backends', `a comma-separated list of ${BACKEND_NAMES.join(', ')}`) }))
    .min(1, { error: expected('backends', 'a non-empty list') }),
);

/** The validated configuration. */
export const configSchema = z
  .object({
    port: int('port', 0, 65535),
    host: z.string().min(1),
    defaultDeadlineMs: int('defaultDeadlineMs', 1, 3_600_000),
    maxDeadlineMs: int('maxDeadlineMs', 1, 3_600_000),
    edgeWorkers: int('edgeWorkers', 0, 64),
    intraOpThreads: int('intraOpThreads', 0, 64),
    edgeChunkSize: int('edgeChunkSize', 0, 256),
    maxBatch: int('maxBatch', 1, 256),
    model: z.string().min(1),
    backends: backendList,
    maxBodyBytes: int('maxBodyBytes', 1024, 256 * 1024 * 1024),
    maxHeaderBytes: int('maxHeaderBytes', 1024, 1024 * 1024),
    requestTimeoutMs: int('requestTimeoutMs', 100, 3_600_000),
    headersTimeoutMs: int('headersTimeoutMs', 100, 3_600_000),
    maxQueue: int('maxQueue', 1, 1_000_000),
    profile: z.string().min(1).optional(),
    sYaml: z.string().min(1).optional(),
    token: z.string().min(1).optional(),
    logLevel: z.enum(LOG_LEVELS, { error: expected('logLevel', LOG_LEVELS.join('|')) }),
    fcAccountId: z.string().min(1).optional(),
    fcRegion: z.string().min(1).optional(),
    fcEndpoint: z.url({ error: expected('fcEndpoint', 'an http(s) URL') }).optional(),
    access: z.string().min(1).optional(),
    shutdownGraceMs: int('shutdownGraceMs', 0, 600_000),
  })
  .refine((c) => c.defaultDeadlineMs <= c.maxDeadlineMs, {
    error: (iss) => {
      const c = iss.input as { defaultDeadlineMs: number; maxDeadlineMs: number };
      return `Expected \`defaultDeadlineMs\` (${c.defaultDeadlineMs}) to be ≤ \`maxDeadlineMs\` (${c.maxDeadlineMs})`;
    },
  })
  .refine((c) => c.headersTimeoutMs <= c.requestTimeoutMs, {
    error: (iss) => {
      const c = iss.input as { headersTimeoutMs: number; requestTimeoutMs: number };
      return `Expected \`headersTimeoutMs\` (${c.headersTimeoutMs}) to be ≤ \`requestTimeoutMs\` (${c.requestTimeoutMs})`;
    },
  })
  .refine((c) => !(c.backends.includes('edge') && c.backends.includes('noop')), {
    error: 'Expected `backends` to hold at most one of edge and noop (both serve the `edge` target)',
  });

export type AgentConfig = z.infer<typeof configSchema>;

interface OptionSpec {
  readonly key: keyof AgentConfig;
  readonly flag: string;
  readonly env?: string;
  readonly default?: string | number;
  readonly help: string;
}

/** Every option: flag, env name, default, meaning. */
export const OPTIONS: readonly OptionSpec[] = [
  { key: 'port', flag: 'port', env: 'PORT', default: 8080, help: 'TCP port to listen on (0 = any free port)' },
  { key: 'host', flag: 'host', env: 'HOST', default: '127.0.0.1', help: 'address to bind (loopback by default; wider without a token logs a warning)' },
  { key: 'defaultDeadlineMs', flag: 'default-deadline-ms', env: 'AGENT_DEFAULT_DEADLINE_MS', default: 1000, help: 'deadline budget (ms from arrival) when a request gives none' },
  { key: 'maxDeadlineMs', flag: 'max-deadline-ms', env: 'AGENT_MAX_DEADLINE_MS', default: 60_000, help: 'largest deadline budget a request may ask for' },
  { key: 'edgeWorkers', flag: 'edge-workers', env: 'AGENT_EDGE_WORKERS', default: 0, help: 'ONNX worker threads on the device, i.e. batches run at once on the edge (0 = one per core the edge may use: the cores available, cgroup quota included, less one when the local FC runs on this device)' },
  { key: 'intraOpThreads', flag: 'intra-op-threads', env: 'AGENT_INTRA_OP_THREADS', default: 0, help: 'ONNX Runtime intra-op threads per edge worker (0 = 1; with workers left to choose, as many as fill the cores)' },
  { key: 'edgeChunkSize', flag: 'edge-chunk-size', env: 'AGENT_EDGE_CHUNK_SIZE', default: 0, help: 'most images per ONNX Runtime run on the edge; bigger batches run in chunks (0 = measure at start-up, ≈ 0.4 s, once per model, CPU and layout: kept in node_modules/.cache/seb-calibration)' },
  { key: 'maxBatch', flag: 'max-batch', env: 'AGENT_MAX_BATCH', default: 16, help: 'largest batch sent to any target' },
  { key: 'model', flag: 'model', env: 'SEB_MODEL', default: 'ocr-rec', help: 'model name (ocr-rec = PP-OCRv4 text-line recognition)' },
  { key: 'backends', flag: 'backends', env: 'AGENT_BACKENDS', default: 'edge,fc', help: 'backends to run, comma-separated: edge, fc, noop (noop replaces edge)' },
  { key: 'maxBodyBytes', flag: 'max-body-bytes', env: 'AGENT_MAX_BODY_BYTES', default: 8 * 1024 * 1024, help: 'largest request body accepted (413 above)' },
  { key: 'maxHeaderBytes', flag: 'max-header-bytes', env: 'AGENT_MAX_HEADER_BYTES', default: 16 * 1024, help: 'largest request line + headers accepted (431 above)' },
  { key: 'requestTimeoutMs', flag: 'request-timeout-ms', env: 'AGENT_REQUEST_TIMEOUT_MS', default: 30_000, help: 'time to receive a whole request, headers and body (408 and close after)' },
  { key: 'headersTimeoutMs', flag: 'headers-timeout-ms', env: 'AGENT_HEADERS_TIMEOUT_MS', default: 10_000, help: 'time to receive a request\'s headers (408 and close after; ≤ request timeout)' },
  { key: 'maxQueue', flag: 'max-queue', env: 'AGENT_MAX_QUEUE', default: 2000, help: 'requests waiting at most before load is shed with 503' },
  { key: 'profile', flag: 'profile', env: 'AGENT_PROFILE', help: 'latency profile, priors of the estimators (default: the repo\'s profiles/default.json)' },
  { key: 'sYaml', flag: 's-yaml', env: 'AGENT_S_YAML', help: 'Serverless Devs file listing the FC tiers (default: the repo\'s s.yaml)' },
  { key: 'token', flag: 'token', env: 'AGENT_TOKEN', help: 'bearer token clients must send on /v1/* and /metrics (none = open; a warning is logged if the host is not loopback)' },
  { key: 'logLevel', flag: 'log-level', env: 'LOG_LEVEL', default: 'info', help: `log level: ${LOG_LEVELS.join('|')}` },
  { key: 'fcAccountId', flag: 'fc-account-id', env: 'FC_ACCOUNT_ID', help: 'Alibaba Cloud account id; with FC_REGION selects the real FC' },
  { key: 'fcRegion', flag: 'fc-region', env: 'FC_REGION', help: 'FC region, e.g. cn-hangzhou' },
  { key: 'fcEndpoint', flag: 'fc-endpoint', env: 'FC_ENDPOINT', help: 'FC endpoint override (default https://<account>.<region>.fc.aliyuncs.com)' },
  { key: 'access', flag: 'access', env: 'SEB_ACCESS', help: 'Serverless Devs access alias holding the AccessKey pair' },
  { key: 'shutdownGraceMs', flag: 'shutdown-grace-ms', env: 'AGENT_SHUTDOWN_GRACE_MS', default: 30_000, help: 'longest wait for in-flight batches on SIGTERM' },
];

/** Thrown for a bad flag, env value or config file; the message names the option. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** `--help` text: every option with its default and env name. */
export function helpText(): string {
  const rows = OPTIONS.map((o) => {
    const left = `  --${o.flag} <value>`;
    const meta = [o.env ? `env ${o.env}` : '', o.default !== undefined ? `default ${o.default}` : ''].filter(Boolean).join(', ');
    return `${left.padEnd(30)} ${o.help}${meta ? ` (${meta})` : ''}`;
  });
  return [
    'Usage: npm start -- [options]     (or, uncompiled: tsx edge-agent/main.ts [options])',
    '',
    'Edge agent: batches inference requests and routes each batch to the local ONNX model or an FC tier.',
    'Without FC_ACCOUNT_ID/FC_REGION it starts a local FC in-process with the tiers of s.yaml.',
    'Precedence: defaults < --config file < environment < flags.',
    '',
    '  --config <path>                JSON or YAML file with any of the options below (camelCase keys)',
    '  --help                         print this text',
    ...rows,
    '',
    'FC credentials: only from ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET or a Serverless Devs',
    'access alias (~/.s/access.yaml); never from flags or the config file, and never logged or returned.',
    'The local FC takes FC_LOCAL_ACCESS_KEY_ID / FC_LOCAL_ACCESS_KEY_SECRET (loopback development defaults).',
    'Security: binds 127.0.0.1 by default; set AGENT_TOKEN before binding a wider address (HOST=0.0.0.0).',
  ].join('\n');
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ConfigError(`cannot read config file ${path}`, { cause });
  }
  let doc: unknown;
  try {
    doc = /\.json$/i.test(path) ? JSON.parse(text) : parseYaml(text);
  } catch (cause) {
    throw new ConfigError(`config file ${path} is not valid ${/\.json$/i.test(path) ? 'JSON' : 'YAML'}: ${(cause as Error).message}`, { cause });
  }
  if (doc == null) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`config file ${path} must hold a mapping of options`);
  const known = new Set(OPTIONS.map((o) => o.key as string));
  for (const k of Object.keys(doc)) {
    if (!known.has(k)) throw new ConfigError(`config file ${path} has unknown option \`${k}\`; known: ${[...known].join(', ')}`);
  }
  return doc as Record<string, unknown>;
}

/** Result of {@link loadConfig}: either the config, or a request for help. */
export type LoadedConfig = { readonly help: true } | { readonly help: false; readonly config: AgentConfig };

/**
 * Build the configuration from flags, environment and an optional config file.
 * @example
 * const r = loadConfig(process.argv.slice(2), process.env);
 * if (r.help) console.log(helpText());
 */
export function loadConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): LoadedConfig {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        help: { type: 'boolean', short: 'h' },
        config: { type: 'string' },
        ...Object.fromEntries(OPTIONS.map((o) => [o.flag, { type: 'string' as const }])),
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (cause) {
    throw new ConfigError(`${(cause as Error).message} (see --help)`, { cause });
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help) return { help: true };

  const merged: Record<string, unknown> = {};
  for (const o of OPTIONS) if (o.default !== undefined) merged[o.key] = o.default;
  const configPath = (values.config as string | undefined) ?? env.AGENT_CONFIG;
  if (configPath) Object.assign(merged, readConfigFile(configPath));
  for (const o of OPTIONS) {
    const v = o.env ? env[o.env] : undefined;
    if (v !== undefined && v !== '') merged[o.key] = v;
  }
  for (const o of OPTIONS) {
    const v = values[o.flag];
    if (typeof v === 'string') merged[o.key] = v;
  }
  return { help: false, config: parseConfig(merged) };
}

/** Validate an options object (e.g. from a test) and fill defaults. */
export function parseConfig(input: Record<string, unknown>): AgentConfig {
  const withDefaults: Record<string, unknown> = {};
  for (const o of OPTIONS) if (o.default !== undefined) withDefaults[o.key] = o.default;
  Object.assign(withDefaults, input);
  const r = configSchema.safeParse(withDefaults);
  if (!r.success) {
    throw new ConfigError(
      r.error.issues
        .map((i) => {
          const spec = OPTIONS.find((o) => o.key === i.path[0]);
          const where = spec ? ` (flag --${spec.flag}${spec.env ? `, env ${spec.env}` : ''})` : '';
          return i.message.startsWith('Expected') ? `${i.message}${where}` : `\`${i.path.join('.')}\`: ${i.message}${where}`;
        })
        .join('; '),
    );
  }
  return r.data;
}
