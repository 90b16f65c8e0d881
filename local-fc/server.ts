/**
 * The local Function Compute: an HTTP server speaking FC's InvokeFunction API (FC 3.0
 * `POST /2023-03-30/functions/{name}/invocations` and FC 2.0
 * `POST /2016-08-15/services/{service}/functions/{name}/invocations`), checking FC signatures,
 * running each tier's handler in its own worker-thread instances, emulating tier speed, the
 * edge → cloud link and faults, and billing every invocation into a ledger.
 *
 * node:http rather than Hono because the link emulation must pace how the body is read.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { loadTiers, type Tier } from '../shared/tiers.ts';
import { loadProfile, type Profile } from '../shared/profile.ts';
import { verifyFcRequest, contentMd5Matches } from './signature.ts';
import { FcHttpError } from './errors.ts';
import { INSTANCE_WORKER_MODULE, TierPool, type InvokeResult } from './instances.ts';
import { bundledModuleUrl } from '../shared/worker-bundle.ts';
import { LedgerBook, type Ledger } from './ledger.ts';
import { Link, BodyTooLargeError, type LinkSettings } from './link.ts';
import { faultsFor, faultsSchema, type Faults, type FaultsInput, type UniformSource } from './faults.ts';
import { Rng } from '../shared/rng.ts';
import { localFcAccessKey } from './auth.ts';

/** The handler module instances run by default: the project's FC function. */
export const DEFAULT_HANDLER_MODULE = fileURLToPath(new URL('../functions/index.ts', import.meta.url));
/** A fast stand-in handler (wire format, no model) for testing and benchmarking the local FC itself. */
export const ECHO_HANDLER_MODULE = fileURLToPath(new URL('./echo-handler.ts', import.meta.url));
/** FC's synchronous-invocation payload limit. */
export const MAX_BODY_BYTES = 32 * 1024 * 1024;
/** FC 2.0 service name the local FC serves its functions under (the s.yaml project name). */
export const DEFAULT_FC2_SERVICE = 'serverless-edge-batching';

/** Structured logger (pino-compatible subset). The secret and `authorization` are never passed to it. */
export interface LocalFcLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface LocalFcOptions {
  /** TCP port; 0 = ephemeral. @default 0 */
  readonly port?: number;
  /** Interface to listen on; admin endpoints listen here too, so keep it on loopback. @default '127.0.0.1' */
  readonly host?: string;
  /** Tier catalogue. @default loadTiers() (the repo's s.yaml) */
  readonly tiers?: readonly Tier[];
  /** Latency profile for tier-speed emulation (object or path); `false` disables emulation. @default loadProfile() */
  readonly profile?: Profile | string | false;
  /** Module exporting `handler` and `initializer`. @default functions/index.ts */
  readonly handlerModule?: string;
  /** Instances per tier at once (beyond: 429). @default 2 @minimum 1 */
  readonly maxInstances?: number;
  /** Idle instances are reclaimed after this long, in ms. @default 300000 */
  readonly keepAliveMs?: number;
  /**
   * Nice value (0–19) instance threads run at. Emulated instances stand for cloud machines; on
   * a device they compete for its cores with the agent's own edge workers, so a dedicated device
   * can run them lower (Linux; elsewhere ignored). Not the default: on a machine shared with
   * other work, nice 10 made every cold start 5–10× slower (6–10 s model loads under load
   * average 12–25) and FC tiers looked unusable to the agent.
   * @default FC_LOCAL_INSTANCE_NICE, else 0 (the process's priority)
   */
  readonly instanceNice?: number;
  /** Accepted AccessKey pair. @default FC_LOCAL_ACCESS_KEY_ID / FC_LOCAL_ACCESS_KEY_SECRET, else the local defaults */
  readonly accessKeyId?: string;
  readonly accessKeySecret?: string;
  /** Account id reported to handlers. @default '1234567890123456' */
  readonly accountId?: string;
  /** FC 2.0 service name. @default DEFAULT_FC2_SERVICE */
  readonly serviceName?: string;
  /** Initial link emulation. @default unshaped, rtt 0 */
  readonly link?: LinkSettings;
  /** Initial faults. @default none */
  readonly faults?: FaultsInput;
  /** Source of randomness for faults. @default new Rng(1) (shared/rng.ts) */
  readonly rng?: UniformSource;
  /** Largest accepted body, bytes. @default 32 MiB (FC's limit) */
  readonly maxBodyBytes?: number;
  readonly logger?: LocalFcLogger;
}

/** A running local FC. */
export interface LocalFc {
  /** Base URL, e.g. `http://127.0.0.1:9000`; give it to the fc2 client as `endpoint`. */
  readonly url: string;
  readonly port: number;
  readonly accessKeyId: string;
  readonly accountId: string;
  readonly region: string;
  readonly tiers: readonly Tier[];
  /** Billing so far. */
  ledger(): Ledger;
  /** Change the link emulation (fields left out keep their value). */
  setLink(settings: LinkSettings): void;
  /** Replace the fault map (validated; throws on bad input). */
  setFaults(faults: FaultsInput): void;
  /** Stop listening, end connections and instances. */
  close(): Promise<void>;
}

function positiveInt(name: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min) throw new TypeError(`Expected \`${name}\` to be an integer ≥ ${min}, got \`${v}\``);
  return v;
}

const linkBody = z
  .object({
    mbps: z.number().min(0).nullable().optional(),
    rttMs: z.number().min(0).max(60_000).optional(),
    outage: z.boolean().optional(),
  })
  .strict();

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

function issues(e: z.ZodError): string {
  return e.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
}

/**
 * Start a local FC. Resolves when it listens.
 * @example
 * const fc = await startLocalFc({ maxInstances: 1 });
 * const client = new FCClient('1234567890123456', { endpoint: fc.url, accessKeyID: fc.accessKeyId, accessKeySecret: 'local-dev-secret', region: 'cn-hangzhou' });
 */
export async function startLocalFc(opts: LocalFcOptions = {}): Promise<LocalFc> {
  const tiers = [...(opts.tiers ?? loadTiers())];
  const profile = opts.profile === false ? undefined : typeof opts.profile === 'object' ? opts.profile : loadProfile(opts.profile);
  const maxInstances = positiveInt('maxInstances', opts.maxInstances ?? 2, 1);
  const keepAliveMs = positiveInt('keepAliveMs', opts.keepAliveMs ?? 300_000, 0);
  const instanceNice = positiveInt('instanceNice', opts.instanceNice ?? Number(process.env.FC_LOCAL_INSTANCE_NICE || 0), 0);
  if (instanceNice > 19) throw new TypeError(`Expected \`instanceNice\` to be an integer ≤ 19, got \`${instanceNice}\``);
  const maxBodyBytes = positiveInt('maxBodyBytes', opts.maxBodyBytes ?? MAX_BODY_BYTES, 1);
  const envKey = localFcAccessKey();
  const accessKeyId = opts.accessKeyId ?? envKey.accessKeyId;
  const accessKeySecret = opts.accessKeySecret ?? envKey.accessKeySecret;
  const accountId = opts.accountId ?? '1234567890123456';
  const serviceName = opts.serviceName ?? DEFAULT_FC2_SERVICE;
  const handlerModule = opts.handlerModule ?? DEFAULT_HANDLER_MODULE;
  const rng = opts.rng ?? new Rng(1);
  const log = opts.logger;
  const link = new Link(opts.link);
  const book = new LedgerBook();
  let faults: Faults = faultsSchema.parse(opts.faults ?? {});

  const byName = new Map(tiers.map((t) => [t.functionName, t]));
  // Compiled once here, not by every cold start (shared/worker-bundle.ts says why).
  const [workerUrl, handlerUrl] = await Promise.all([bundledModuleUrl(INSTANCE_WORKER_MODULE), bundledModuleUrl(handlerModule)]);
  const pools = new Map(tiers.map((t) => [t.key, new TierPool({ tier: t, workerUrl, handlerModule: handlerUrl, maxInstances, keepAliveMs, accountId, nice: instanceNice })]));
  /** Pending holds (emulated durations, hangs) so close() can cut them short. */
  const holds = new Set<() => void>();
  let closing = false;

  const hold = (ms: number) =>
    new Promise<void>((resolve) => {
      if (closing || ms <= 0) return resolve();
      const done = () => (clearTimeout(t), holds.delete(done), resolve());
      const t = setTimeout(done, ms);
      holds.add(done);
    });

  function send(res: ServerResponse, status: number, body: string, headers: Record<string, string>): void {
    if (res.headersSent || res.destroyed) return;
    res.writeHead(status, { 'content-length': String(Buffer.byteLength(body)), ...headers });
    res.end(body);
  }

  function sendError(res: ServerResponse, requestId: string, e: FcHttpError): void {
    send(res, e.status, JSON.stringify({ ErrorCode: e.code, ErrorMessage: e.message }), {
      'content-type': 'application/json',
      'x-fc-request-id': requestId,
      ...e.headers,
    });
  }

  /** Resolve an invocation path to a tier, or throw 404/405. */
  function route(method: string, path: string): { kind: 'admin' } | { kind: 'invoke'; fc2Service?: string; functionName: string } {
    if (path.startsWith('/local/')) return { kind: 'admin' };
    const fc3 = /^\/2023-03-30\/functions\/([^/]+)\/invocations$/.exec(path);
    const fc2 = /^\/2016-08-15\/services\/([^/]+)\/functions\/([^/]+)\/invocations$/.exec(path);
    if (!fc3 && !fc2) throw new FcHttpError(404, 'PathNotFound', `the local FC serves only InvokeFunction; no route for ${method} ${path}`);
    if (method !== 'POST') throw new FcHttpError(405, 'MethodNotAllowed', `InvokeFunction takes POST, got ${method}`, { allow: 'POST' });
    if (fc3) return { kind: 'invoke', functionName: decodeURIComponent(fc3[1]) };
    return { kind: 'invoke', fc2Service: decodeURIComponent(fc2![1]), functionName: decodeURIComponent(fc2![2]) };
  }

  function lookup(fc2Service: string | undefined, functionName: string): Tier {
    if (fc2Service !== undefined) {
      const service = fc2Service.split('.')[0]; // `service.qualifier`
      if (service !== serviceName) throw new FcHttpError(404, 'ServiceNotFound', `service ${service} does not exist (the local FC serves ${serviceName})`);
    }
    const tier = byName.get(functionName);
    if (!tier) throw new FcHttpError(404, 'FunctionNotFound', `function ${functionName} does not exist; known: ${[...byName.keys()].join(', ')}`);
    return tier;
  }

  /** Emulated function duration: never below the real one, at least the tier's modeled time. */
  function emulatedMs(tier: Tier, realMs: number, batchSize: number, cold: boolean, extraColdMs: number): number {
    const p = profile?.targets[tier.key];
    const modeled = p ? p.aMs + p.kMs * batchSize + (cold ? p.coldStartMs : 0) : 0;
    return Math.ceil(Math.max(realMs, modeled) + (cold ? extraColdMs : 0));
  }

  /** Emulated initializer duration of a new instance: never below the real one, at least the tier's modeled cold start. */
  function emulatedInitMs(tier: Tier, realMs: number, extraColdMs: number): number {
    const p = profile?.targets[tier.key];
    return Math.ceil(Math.max(realMs, p?.coldStartMs ?? 0) + extraColdMs);
  }

  async function invoke(req: IncomingMessage, res: ServerResponse, requestId: string, path: string, query: URLSearchParams, target: { fc2Service?: string; functionName: string }): Promise<void> {
    const auth = verifyFcRequest({ method: req.method ?? '', path, headers: req.headers, accessKeyId, accessKeySecret, nowMs: Date.now(), query: path.includes('/proxy/') ? query : undefined });
    if (auth) throw new FcHttpError(403, auth.code, auth.message);
    const tier = lookup(target.fc2Service, target.functionName);
    const invocationType = String(req.headers['x-fc-invocation-type'] ?? 'Sync');
    if (invocationType !== 'Sync') throw new FcHttpError(400, 'InvalidArgument', `x-fc-invocation-type ${invocationType} is not supported by the local FC (only Sync)`);
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBodyBytes) throw new FcHttpError(413, 'PayloadTooLarge', `request body is ${declared} bytes; the limit is ${maxBodyBytes}`);

    await hold(link.rttMs / 2);
    let body: Buffer;
    try {
      body = await link.readBody(req, maxBodyBytes);
    } catch (err) {
      if (err instanceof BodyTooLargeError) throw new FcHttpError(413, 'PayloadTooLarge', err.message);
      throw err;
    }
    const md5 = req.headers['content-md5'];
    if (typeof md5 === 'string' && md5 !== '' && !contentMd5Matches(md5, body)) {
      throw new FcHttpError(403, 'ContentMD5Mismatch', 'content-md5 does not match the request body');
    }

    const f = faultsFor(faults, tier.key, tier.functionName);
    if (f.throttleRate > 0 && rng.next() < f.throttleRate) throw new FcHttpError(429, 'ResourceExhausted', `function ${tier.functionName} is throttled (injected fault)`);
    const pool = pools.get(tier.key)!;
    const got = pool.acquire();
    if (!got) {
      const s = pool.stats();
      throw new FcHttpError(429, 'ResourceExhausted', `function ${tier.functionName} has ${s.busy} of ${maxInstances} instances busy (instance limit reached)`);
    }
    const { instance, cold } = got;
    const start = performance.now();
    const roll = rng.next();
    let result: InvokeResult;
    let errorType: string | undefined;
    let batchSize = 1;
    let durationMs: number;
    let initMs: number | undefined;
    // FC runs one request per instance for the whole invocation: the instance stays busy until the
    // emulated duration has passed, not just until the real handler returned (on this machine it
    // returns far sooner than a slow tier would), so throttling and cold starts are FC's.
    try {
      if (f.hangRate > 0 && roll < f.hangRate) {
        // A hung handler: FC waits for the function timeout, then reports it.
        await hold(tier.timeoutS * 1000);
        result = { kind: 'unhandled', errorType: 'FunctionTimeout', errorMessage: `Function timed out after ${tier.timeoutS} seconds (injected hang)`, handlerMs: performance.now() - start, memoryMb: 0 };
      } else {
        result = await instance.invoke(requestId, body, tier.timeoutS * 1000);
      }
      if (result.kind === 'ok' && f.errorRate > 0 && rng.next() < f.errorRate) {
        if (f.errorMode === '5xx') {
          throw new FcHttpError(500, 'InternalServerError', `injected platform error on ${tier.functionName}`);
        }
        result = { ...result, kind: f.errorMode, errorType: 'InjectedFault', errorMessage: `injected ${f.errorMode} error on ${tier.functionName}`, stackTrace: [] };
      }
      if (result.kind === 'ok') {
        try {
          const parsed = JSON.parse(result.body) as { results?: unknown };
          if (Array.isArray(parsed?.results)) batchSize = parsed.results.length;
        } catch {
          // not JSON: batch size unknown, model one item
        }
      } else {
        errorType = result.kind === 'handled' ? 'HandledInvocationError' : 'UnhandledInvocationError';
      }
      const realMs = performance.now() - start;
      // FC runs and bills a declared initializer apart from the invocation: its time is not in
      // x-fc-invocation-duration. Without one, the model loads inside the first invocation.
      const initRealMs = cold && tier.initializer ? await instance.ready.catch(() => undefined) : undefined;
      if (initRealMs !== undefined) {
        initMs = emulatedInitMs(tier, initRealMs, f.extraColdStartMs);
        durationMs = emulatedMs(tier, result.handlerMs, batchSize, false, 0);
      } else {
        durationMs = emulatedMs(tier, realMs, batchSize, cold, f.extraColdStartMs);
      }
      // Never answer (nor free the instance) before the tier would have finished.
      await hold(start + (initMs ?? 0) + durationMs - performance.now());
    } finally {
      pool.release(instance);
    }
    const atMs = Date.now();
    if (initMs !== undefined) book.record(tier, { requestId, durationMs: initMs, coldStart: true, kind: 'initializer', atMs });
    book.record(tier, { requestId, durationMs, coldStart: cold, errorType, atMs });
    log?.info({ requestId, function: tier.functionName, durationMs, initializerMs: initMs, cold, batchSize, errorType }, 'invocation');
    await hold(link.rttMs / 2);
    const headers: Record<string, string> = {
      'x-fc-request-id': requestId,
      'x-fc-invocation-duration': String(durationMs),
      'x-fc-max-memory-usage': String(result.memoryMb),
      'x-fc-instance-id': instance.id,
    };
    if (result.kind === 'ok') {
      send(res, 200, result.body, { ...headers, 'content-type': 'application/octet-stream' });
    } else {
      const stackTrace = result.kind === 'handled' ? result.stackTrace : [];
      send(res, 200, JSON.stringify({ errorMessage: result.errorMessage, errorType: result.errorType, stackTrace }), {
        ...headers,
        'content-type': 'application/json',
        'x-fc-error-type': errorType!,
      });
    }
  }

  async function readJson(req: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > 64 * 1024) throw new FcHttpError(413, 'PayloadTooLarge', 'admin request bodies are limited to 64 KB');
      chunks.push(c);
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    } catch {
      throw new FcHttpError(400, 'InvalidArgument', 'request body is not valid JSON');
    }
  }

  /** Admin endpoints: unsigned, served only on the listening interface (loopback by default). */
  async function admin(req: IncomingMessage, res: ServerResponse, requestId: string, path: string): Promise<void> {
    const json = (status: number, v: unknown) => send(res, status, JSON.stringify(v), { 'content-type': 'application/json', 'x-fc-request-id': requestId });
    const m = req.method ?? '';
    const only = (...allowed: string[]) => {
      if (!allowed.includes(m)) throw new FcHttpError(405, 'MethodNotAllowed', `${path} takes ${allowed.join(' or ')}, got ${m}`, { allow: allowed.join(', ') });
    };
    switch (path) {
      case '/local/ledger':
        only('GET', 'DELETE');
        if (m === 'DELETE') book.clear();
        return json(200, book.snapshot());
      case '/local/link': {
        only('GET', 'POST');
        if (m === 'POST') {
          const r = linkBody.safeParse(await readJson(req));
          if (!r.success) throw new FcHttpError(400, 'InvalidArgument', `invalid link settings: ${issues(r.error)}`);
          link.set(r.data);
        }
        return json(200, link.describe());
      }
      case '/local/faults': {
        only('GET', 'POST');
        if (m === 'POST') {
          const r = faultsSchema.safeParse(await readJson(req));
          if (!r.success) throw new FcHttpError(400, 'InvalidArgument', `invalid faults: ${issues(r.error)}`);
          faults = r.data;
        }
        return json(200, faults);
      }
      case '/local/instances':
        only('GET');
        return json(200, Object.fromEntries([...pools].map(([k, p]) => [k, p.stats()])));
      case '/local/health':
        only('GET');
        return json(200, { ok: true, tiers: tiers.map((t) => t.functionName) });
      default:
        throw new FcHttpError(404, 'PathNotFound', `no admin endpoint ${path}; try /local/ledger, /local/link, /local/faults, /local/instances`);
    }
  }

  const server: Server = createServer((req, res) => {
    const requestId = randomUUID();
    if (link.outage && !(req.url ?? '').startsWith('/local/')) {
      req.socket.destroy(); // a dead uplink: the caller sees a reset connection
      return;
    }
    const url = new URL(req.url ?? '/', 'http://local');
    const path = url.pathname;
    const run = async () => {
      const r = route(req.method ?? '', path);
      if (r.kind === 'admin') await admin(req, res, requestId, path);
      else await invoke(req, res, requestId, path, url.searchParams, r);
    };
    run().catch((err: unknown) => {
      const e = err instanceof FcHttpError ? err : new FcHttpError(500, 'InternalServerError', 'the local FC failed to handle the request');
      if (!(err instanceof FcHttpError)) log?.warn({ requestId, err: String(err) }, 'local FC error');
      sendError(res, requestId, e);
    });
  });
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  log?.info({ url: `http://${host}:${addr.port}`, tiers: tiers.length, maxInstances, keepAliveMs, accessKeyId }, 'local FC listening');

  return {
    url: `http://${host}:${addr.port}`,
    port: addr.port,
    accessKeyId,
    accountId,
    region: tiers[0]?.region ?? 'cn-hangzhou',
    tiers,
    ledger: () => book.snapshot(),
    setLink: (s) => link.set(s),
    setFaults: (f) => {
      faults = faultsSchema.parse(f);
    },
    close: async () => {
      closing = true;
      for (const done of [...holds]) done();
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await Promise.all([closed, ...[...pools.values()].map((p) => p.close())]);
    },
  };
}
