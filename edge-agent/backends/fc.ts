/**
 * The FC backend: sends a batch, in the wire format, to one tier's function through the real
 * `@alicloud/fc2` client (its signed request path), against an FC endpoint: Alibaba Cloud's, or
 * any other that speaks the same API (in development, the local FC: edge-agent/dev/).
 * FC 3.0 by default (`POST /2023-03-30/functions/{name}/invocations`); FC 2.0's
 * service/function path as an option. Reports wall time, billed time (x-fc-invocation-duration),
 * transfer time (wall − function duration), cold starts and cost per call.
 *
 * Billing where FC's reply does not say it all:
 * - no `x-fc-invocation-duration`: the function's own `handlerMs` (else decode + infer), else the
 *   wall time (an upper bound), never 0;
 * - a cold start of a tier with an initializer: FC bills the initializer apart and reports its
 *   time nowhere in the reply, so the cost includes an *estimate* of it (the `initializerMs` the
 *   function measured, else wall − invocation), reported as `initializerEstimate` and to
 *   `onInitializerEstimate`. A cold call's wall time mixes transfer with instance start-up, so it
 *   reports no transfer time (the link is learned from warm calls).
 */
import { createRequire } from 'node:module';
import type { Tier } from '../../shared/tiers.ts';
import { billedMsOf, costOf } from '../../shared/pricing.ts';
import { batchResponseSchema, encodeBatch } from '../../shared/wire/index.ts';
import { BackendError, type BatchItem, type BatchOutcome, type InferenceBackend, type RunOptions, type TargetId } from './backend.ts';
import { FcCredentials, FcCredentialsError, resolveFcCredentials } from './fc-credentials.ts';

/** The slice of `@alicloud/fc2`'s Client this backend uses (the package ships no types). */
interface Fc2Client {
  version: string;
  post(path: string, body: Buffer, headers?: Record<string, string>, queries?: null, opts?: { rawBuf?: boolean }): Promise<{ headers: Record<string, string | undefined>; data: unknown }>;
}
type Fc2ClientCtor = new (
  accountId: string,
  config: { accessKeyID: string; accessKeySecret: string; securityToken?: string; region: string; endpoint?: string; timeout?: number },
) => Fc2Client;
// Loaded on first use: the package and its ali-oss dependency take ≈ 0.37 s to load, which at
// start-up would delay the edge worker's model load (it starts later on the same thread).
let fc2Client: Fc2ClientCtor | undefined;
const Fc2Client = (): Fc2ClientCtor => (fc2Client ??= createRequire(import.meta.url)('@alicloud/fc2') as Fc2ClientCtor);

export type FcApiVersion = '2023-03-30' | '2016-08-15';

export interface FcBackendOptions {
  /** Tiers this backend serves (targets = their keys). */
  readonly tiers: readonly Tier[];
  /**
   * FC endpoint override, e.g. `http://127.0.0.1:9000`.
   * @default `https://<accountId>.<region>.fc.aliyuncs.com`
   */
  readonly endpoint?: string;
  /** @default credentials.accountId, else FC_ACCOUNT_ID; with an explicit `endpoint` none is needed */
  readonly accountId?: string;
  /** @default credentials.region, else FC_REGION, else the tiers' region */
  readonly region?: string;
  /** The AccessKey pair calls are signed with. @default resolveFcCredentials(process.env) */
  readonly credentials?: FcCredentials;
  /** @default '2023-03-30' (FC 3.0) */
  readonly apiVersion?: FcApiVersion;
  /** FC 2.0 service name (only with apiVersion 2016-08-15). @default 'serverless-edge-batching' */
  readonly serviceName?: string;
  /** Model to ask for when RunOptions.model is absent. @default the function's own default */
  readonly model?: string;
  /** Told about every initializer estimate (a metrics hook). */
  readonly onInitializerEstimate?: (e: InitializerEstimate & { readonly target: TargetId }) => void;
}

/** What a batch's billing rests on when FC's reply does not carry it. */
export interface InitializerEstimate {
  /** Estimated billed initializer time. */
  readonly billedMs: number;
  readonly costUsd: number;
  /** `function`: the initializerMs the function reported; `wall`: wall − invocation (an upper bound). */
  readonly source: 'function' | 'wall';
}

/** The duration FC bills for an invocation, and what it was read from. */
export function billedDuration(header: string | undefined, reported: { handlerMs?: number; decodeMs: number; inferMs: number }, wallMs: number): { ms: number; source: 'header' | 'function' | 'wall' } {
  const fromHeader = header === undefined || header.trim() === '' ? Number.NaN : Number(header);
  if (Number.isFinite(fromHeader) && fromHeader >= 0) return { ms: fromHeader, source: 'header' };
  if (reported.handlerMs !== undefined && reported.handlerMs > 0) return { ms: Math.min(wallMs, Math.ceil(reported.handlerMs)), source: 'function' };
  const parts = reported.decodeMs + reported.inferMs;
  if (parts > 0) return { ms: Math.min(wallMs, Math.ceil(parts)), source: 'function' };
  return { ms: Math.ceil(wallMs), source: 'wall' };
}

/** An InferenceBackend of kind `fc`. */
export interface FcBackend extends InferenceBackend {
  readonly kind: 'fc';
  /** Base URL calls go to (safe to log). */
  readonly endpoint: string;
  readonly apiVersion: FcApiVersion;
}

function bodyText(data: unknown): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (typeof data === 'string') return data;
  return JSON.stringify(data);
}

function parseJson(data: unknown, target: TargetId): unknown {
  if (data && typeof data === 'object' && !Buffer.isBuffer(data)) return data; // the client parsed it
  try {
    return JSON.parse(bodyText(data));
  } catch (cause) {
    throw new BackendError('bad_response', `function on ${target} answered something that is not JSON`, target, { cause });
  }
}

/** Map what the fc2 client throws to a BackendError. It carries the status only in its message. */
function toBackendError(err: unknown, target: TargetId, timeoutMs: number): BackendError {
  if (err instanceof BackendError) return err;
  const e = err as { message?: string; name?: string; code?: string };
  const msg = e?.message ?? String(err);
  const status = Number(/failed with (\d{3})\b/.exec(msg)?.[1]) || undefined;
  if (status === 429) return new BackendError('throttled', `${target} throttled the call (429 ${e.code ?? ''})`.trim(), target, { cause: err, status });
  if (status && status >= 500) return new BackendError('unavailable', `${target} failed with ${status} (${e.code ?? 'no code'})`, target, { cause: err, status });
  if (status) return new BackendError('unavailable', `${target} refused the call with ${status} (${e.code ?? 'no code'}): ${msg}`, target, { cause: err, status });
  if (e?.name === 'RequestTimeoutError' || /timeout/i.test(msg)) return new BackendError('timeout', `${target} did not answer within ${Math.round(timeoutMs)} ms`, target, { cause: err });
  return new BackendError('unavailable', `cannot reach ${target}: ${msg}`, target, { cause: err });
}

/**
 * Build the FC backend. Configuration errors throw here, not on the first call.
 * @example
 * const backend = createFcBackend({ tiers: loadTiers() }); // account, region and keys from the environment
 * const out = await backend.run('tier-c1-m2048', items, { timeoutMs: 2000 });
 */
export function createFcBackend(opts: FcBackendOptions): FcBackend {
  if (opts.tiers.length === 0) throw new TypeError('Expected `tiers` to list at least one tier, got none');
  const apiVersion = opts.apiVersion ?? '2023-03-30';
  if (apiVersion !== '2023-03-30' && apiVersion !== '2016-08-15') throw new TypeError(`Expected \`apiVersion\` to be 2023-03-30 or 2016-08-15, got \`${String(apiVersion)}\``);
  const serviceName = opts.serviceName ?? 'serverless-edge-batching';
  const creds = opts.credentials ?? resolveFcCredentials(process.env);
  if (!creds) throw new FcCredentialsError('no FC credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET, or add a Serverless Devs access alias (`npx s config add`)');
  const region = opts.region ?? creds.region ?? process.env.FC_REGION ?? opts.tiers[0].region;
  const accountId = opts.accountId ?? creds.accountId ?? process.env.FC_ACCOUNT_ID ?? (opts.endpoint ? 'local' : undefined);
  if (!accountId) throw new FcCredentialsError('no FC account id: set FC_ACCOUNT_ID (the FC endpoint is https://<accountId>.<region>.fc.aliyuncs.com)');
  const endpoint = opts.endpoint ?? `https://${accountId}.${region}.fc.aliyuncs.com`;
  const byKey = new Map(opts.tiers.map((t) => [t.key, t]));
  const credentials = creds;
  const pending = new Set<(e: BackendError) => void>();
  let closed = false;

  /** One client per call: the fc2 client's timeout is per client, and ours is per batch. */
  const clientFor = (timeoutMs: number): Fc2Client => {
    const c = new (Fc2Client())(accountId, {
      accessKeyID: credentials.accessKeyId,
      accessKeySecret: credentials.accessKeySecret,
      securityToken: credentials.securityToken,
      region,
      endpoint,
      timeout: Math.max(1, Math.ceil(timeoutMs)),
    });
    c.version = apiVersion; // the client prefixes every path with it and signs the result
    return c;
  };

  async function run(target: TargetId, items: readonly BatchItem[], options: RunOptions): Promise<BatchOutcome> {
    if (closed) throw new BackendError('closed', 'the FC backend is closed', target);
    const tier = byKey.get(target);
    if (!tier) throw new BackendError('unavailable', `unknown FC target ${target}; this backend serves ${[...byKey.keys()].join(', ')}`, target);
    if (!(options.timeoutMs > 0)) throw new BackendError('timeout', `no time left for ${target} (timeoutMs ${options.timeoutMs})`, target);
    const body = encodeBatch(items, options.model ?? opts.model);
    const path = apiVersion === '2023-03-30' ? `/functions/${tier.functionName}/invocations` : `/services/${serviceName}/functions/${tier.functionName}/invocations`;
    const client = clientFor(options.timeoutMs);
    const start = performance.now();
    let timer: NodeJS.Timeout | undefined;
    let abort: ((e: BackendError) => void) | undefined;
    // The client's own timeout covers connect and read; this one also covers a stalled upload.
    const guard = new Promise<never>((_, reject) => {
      abort = reject;
      pending.add(reject);
      timer = setTimeout(() => reject(new BackendError('timeout', `${target} did not answer within ${Math.round(options.timeoutMs)} ms`, target)), options.timeoutMs);
    });
    try {
      const res = await Promise.race([
        client.post(path, body, { 'x-fc-invocation-type': 'Sync', 'x-fc-log-type': 'None' }, null, { rawBuf: true }).catch((err: unknown) => {
          throw toBackendError(err, target, options.timeoutMs);
        }),
        guard,
      ]);
      const wallMs = performance.now() - start;
      const errorType = res.headers['x-fc-error-type'];
      if (errorType) {
        const d = parseJson(res.data, target) as { errorMessage?: string };
        throw new BackendError('function_error', `${target} ${errorType}: ${d.errorMessage ?? bodyText(res.data)}`, target, { status: 200 });
      }
      const r = batchResponseSchema.safeParse(parseJson(res.data, target));
      if (!r.success) {
        const why = r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
        throw new BackendError('bad_response', `function on ${target} answered a body that is not a BatchResponse: ${why}`, target);
      }
      const parsed = r.data;
      if (parsed.results.length !== items.length) {
        throw new BackendError('bad_response', `function on ${target} returned ${parsed.results.length} results for ${items.length} items`, target);
      }
      const billed = billedDuration(res.headers['x-fc-invocation-duration'], parsed, wallMs);
      const billedMs = billed.ms;
      let initializerEstimate: InitializerEstimate | undefined;
      if (parsed.coldStart && tier.initializer) {
        const ms = parsed.initializerMs ?? Math.max(0, wallMs - billedMs);
        const initBilledMs = billedMsOf(ms);
        initializerEstimate = { billedMs: initBilledMs, costUsd: costOf(tier, initBilledMs, 0).usd, source: parsed.initializerMs !== undefined ? 'function' : 'wall' };
        opts.onInitializerEstimate?.({ target, ...initializerEstimate });
      }
      return {
        results: parsed.results,
        target,
        batchSize: items.length,
        wallMs,
        inferMs: parsed.inferMs,
        decodeMs: parsed.decodeMs,
        transferMs: parsed.coldStart || billed.source === 'wall' ? 0 : Math.max(0, wallMs - billedMs),
        billedMs,
        billedFrom: billed.source,
        bytesSent: body.length,
        coldStart: parsed.coldStart,
        costUsd: costOf(tier, billedMs, 1).usd + (initializerEstimate?.costUsd ?? 0),
        ...(initializerEstimate ? { initializerEstimate } : {}),
      };
    } finally {
      clearTimeout(timer);
      if (abort) pending.delete(abort);
    }
  }

  return {
    kind: 'fc',
    targets: opts.tiers.map((t) => t.key),
    endpoint,
    apiVersion,
    run,
    close: async () => {
      closed = true;
      for (const reject of [...pending]) reject(new BackendError('closed', 'the FC backend was closed during the call', 'fc'));
      pending.clear();
    },
  };
}
