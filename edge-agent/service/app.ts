/**
 * The agent's HTTP app (Hono): request ids, the optional bearer token, the body-size limit, the
 * routes, and the one error shape `{"error": {"code", "message"}}`. It speaks fetch
 * (`app.request()` in tests) and is served over HTTP by main.ts with @hono/node-server.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { dashboardRoutes } from './dashboard-routes.ts';
import { HttpError, retryAfterSeconds } from './errors.ts';
import { History } from './history.ts';
import { inferRoutes } from './infer-routes.ts';
import { isOipInferPath, isOipPath, oipErrorBody, oipRoutes } from './oip-routes.ts';
import { openApiRoutes } from './openapi.ts';
import type { AgentRuntime } from './runtime.ts';
import { statusRoutes } from './status-routes.ts';

export interface AppOptions {
  /**
   * Deadline budget of a request that names none, ms.
   * @default 1000
   */
  readonly defaultDeadlineMs?: number;
  /**
   * Largest budget a request may ask for, ms.
   * @default 60000
   */
  readonly maxDeadlineMs?: number;
  /**
   * Largest body accepted (413 above), bytes.
   * @default 8 MiB
   */
  readonly maxBodyBytes?: number;
  /** Model the agent serves; a request naming another (`?model=`) gets 400 unknown_model. */
  readonly model?: string;
  /**
   * Most images in one `/v2/.../infer` request (`max_batch_size` of the model config).
   * @default 16
   */
  readonly maxBatch?: number;
  /** Bearer token required on /v1/*, /v2/models/* and /metrics; none = open. */
  readonly token?: string;
  /**
   * Serve the live dashboard at `/`.
   * @default true
   */
  readonly dashboard?: boolean;
}

/** Model name in /v2 paths when the app is built without one (the agent always names it). */
const DEFAULT_OIP_MODEL = 'ocr-rec';

function positive(name: string, v: number | undefined, dflt: number): number {
  const x = v ?? dflt;
  if (!Number.isFinite(x) || x <= 0) throw new RangeError(`Expected \`${name}\` to be a finite number > 0, got \`${String(v)}\``);
  return x;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Paths that need the token when one is configured. */
function guarded(path: string): boolean {
  // The protocol's health and server metadata stay open, like /healthz (probes carry no token).
  return path.startsWith('/v1/') || path.startsWith('/v2/models/') || path === '/metrics';
}

/** The error body of a path: the protocol's `{"error": "..."}` under /v2, else `{"error": {code, message}}`. */
function errorBody(path: string, e: HttpError): object {
  return isOipPath(path) ? oipErrorBody(e) : e.toJSON();
}

/**
 * Build the app over a runtime.
 * @example
 * const app = createApp(runtime, { defaultDeadlineMs: 800 });
 * const res = await app.request('/v1/infer', { method: 'POST', headers: { 'content-type': 'image/png' }, body: png });
 */
export function createApp(runtime: AgentRuntime, options: AppOptions = {}): Hono {
  const defaultDeadlineMs = positive('defaultDeadlineMs', options.defaultDeadlineMs, 1000);
  const maxDeadlineMs = positive('maxDeadlineMs', options.maxDeadlineMs, 60_000);
  const maxBodyBytes = positive('maxBodyBytes', options.maxBodyBytes, 8 * 1024 * 1024);
  const tokenDigest = options.token ? digest(options.token) : null;
  const log = runtime.logger;
  let nextRequest = 0;

  const app = new Hono();

  app.onError((err, c) => {
    const e = err instanceof HttpError ? err : new HttpError(500, 'internal', 'internal error', { cause: err });
    if (e.status >= 500 && !(err instanceof HttpError)) log.error({ err, reqId: c.req.header('x-request-id'), path: c.req.path }, 'unhandled error');
    // Refusals thrown before the access log ran (401) are logged here.
    else if (e.status === 401) log.info({ reqId: c.req.header('x-request-id'), method: c.req.method, path: c.req.path, status: 401 }, 'request refused');
    if (e.status === 503) c.header('Retry-After', retryAfterSeconds(e.retryAfterMs));
    return c.json(errorBody(c.req.path, e), e.status);
  });
  app.notFound((c) => c.json(errorBody(c.req.path, new HttpError(404, 'not_found', `no route ${c.req.method} ${c.req.path}`)), 404));

  // The body is left unread, so the connection cannot carry another request: say so, or a
  // keep-alive client would reuse a socket the server is about to close.
  const tooLarge = (c: Context) => {
    c.header('Connection', 'close');
    return c.json(errorBody(c.req.path, new HttpError(413, 'payload_too_large', `body exceeds ${maxBodyBytes} bytes (maxBodyBytes)`)), 413);
  };
  // Streamed (chunked) bodies are counted as they arrive by Hono's bodyLimit; a declared
  // Content-Length is checked inline without touching `c.req.raw`, which is costly to build.
  const streamedLimit = bodyLimit({ maxSize: maxBodyBytes, onError: tooLarge });

  const authorise = (c: Context, path: string) => {
    const m = /^Bearer\s+(.+)$/i.exec(c.req.header('authorization') ?? '');
    // A browser's EventSource cannot send headers, so the event stream also takes ?access_token=.
    const given = m?.[1].trim() ?? (path === '/v1/events' ? c.req.query('access_token') : undefined);
    // Compare digests: equal length always, so timingSafeEqual never leaks the token's length.
    if (given === undefined || !timingSafeEqual(digest(given), tokenDigest!)) {
      c.header('WWW-Authenticate', 'Bearer realm="edge-agent"');
      throw new HttpError(401, 'unauthorized', given !== undefined ? 'the bearer token is wrong' : 'missing `Authorization: Bearer <token>` header');
    }
  };

  // One middleware for request id, token, body limit and the access log: each extra layer costs
  // a closure and a promise per request on the hot path.
  app.use('*', async (c, next) => {
    const reqId = c.req.header('x-request-id')?.slice(0, 64) || `r${(nextRequest++).toString(36)}`;
    // Served by @hono/node-server: set it on Node's response, which merges it into whatever
    // the route answers. `c.header` would make Hono build a fetch Headers object for every
    // response (the adapter then copies it back into a plain one), a few µs per request;
    // without it a JSON answer keeps the adapter's plain-object fast path.
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    if (outgoing) outgoing.setHeader('x-request-id', reqId);
    else c.header('x-request-id', reqId);
    const t0 = performance.now();
    const path = c.req.path;
    if (tokenDigest && guarded(path)) authorise(c, path);
    if (path.startsWith('/v1/infer') || isOipInferPath(path)) {
      const declared = c.req.header('content-length');
      if (declared === undefined || c.req.header('transfer-encoding') !== undefined) {
        // It answers a Response when over the limit; otherwise it ran the route through next().
        // It reads the body itself: a client that stops sending mid-body is the client's fault.
        const limited: unknown = await streamedLimit(c, next).catch((cause: unknown) => {
          throw new HttpError(400, 'body_unreadable', `request body could not be read: ${(cause as Error)?.message ?? String(cause)}`, { cause });
        });
        if (limited instanceof Response) c.res = limited;
      } else if (Number(declared) > maxBodyBytes) {
        c.res = tooLarge(c);
      } else {
        await next();
      }
    } else {
      await next();
    }
    // Successes at debug (the hot path); refusals at info so they are seen by default.
    const status = c.res.status;
    const level = status >= 500 ? 'warn' : status >= 400 ? 'info' : 'debug';
    if (!log.isLevelEnabled(level)) return;
    const line = { reqId, method: c.req.method, path, status, ms: Math.round((performance.now() - t0) * 10) / 10 };
    log[level](line, status >= 500 ? 'request failed' : status >= 400 ? 'request refused' : 'request');
  });

  app.route('/', inferRoutes(runtime, { defaultDeadlineMs, maxDeadlineMs, model: options.model }));
  app.route('/', statusRoutes(runtime));
  app.route('/', oipRoutes(runtime, { model: options.model ?? DEFAULT_OIP_MODEL, defaultDeadlineMs, maxDeadlineMs, maxBatchSize: positive('maxBatch', options.maxBatch, 16) }));
  app.route('/', openApiRoutes());
  // The history listens from now on, so the page shows what happened before it was opened.
  if (options.dashboard ?? true) app.route('/', dashboardRoutes({ history: new History(runtime) }));
  return app;
}
