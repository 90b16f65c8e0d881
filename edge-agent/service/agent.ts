/**
 * Assembling a running agent from its configuration: tiers and profile, backends (local ONNX or
 * noop for `edge`; the real FC or an in-process local FC for the tiers), the scheduling core, the
 * runtime, the HTTP app and its server. main.ts, the tests and the benchmark all start agents
 * through {@link startAgent}, so they run exactly what a user runs.
 */
import type { ServerResponse } from 'node:http';
import { isIP, type AddressInfo, type Socket } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { DestinationStream } from 'pino';
import { Scheduler } from '../core/index.ts';
import { loadProfile, type Profile } from '../../shared/profile.ts';
import { loadTiers, DEFAULT_S_YAML, type Tier } from '../../shared/tiers.ts';
import { startLocalFc, localFcAccessKey, type LocalFc } from '../../local-fc/index.ts';
import type { InferenceBackend } from '../backends/backend.ts';
import { createFcBackend } from '../backends/fc.ts';
import { FcCredentials, resolveFcCredentials } from '../backends/fc-credentials.ts';
import { createLocalOnnxBackend } from '../backends/local-onnx.ts';
import { createNoopBackend } from '../backends/noop.ts';
import { ConfigError, type AgentConfig } from '../config.ts';
import { createApp } from './app.ts';
import { createLogger, type Logger } from './logging.ts';
import { AgentRuntime } from './runtime.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** Instances per tier of the in-process local FC (each is a worker thread with its own model). */
const LOCAL_FC_INSTANCES = 2;

export interface StartAgentOptions {
  /** Environment for FC credentials and s.yaml's `${env(...)}`. @default process.env */
  readonly env?: Env;
  /** Log destination (a test passes a stream). @default stdout */
  readonly logDestination?: DestinationStream;
  /** Options passed to the in-process local FC (tests shape its link or fault it). */
  readonly localFc?: { readonly maxInstances?: number; readonly keepAliveMs?: number; readonly handlerModule?: string };
  /** Overrides of the scheduler's options (tests, benchmarks). */
  readonly scheduler?: Partial<ConstructorParameters<typeof Scheduler>[0]>;
}

/** 127.0.0.0/8, ::1 or localhost. */
function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

const CLIENT_ERRORS: Readonly<Record<string, readonly [number, string, string, (c: AgentConfig) => string]>> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large', 'headers_too_large', (c) => `request line and headers exceed ${c.maxHeaderBytes} bytes (maxHeaderBytes)`],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout', 'request_timeout', (c) => `request not received within ${c.requestTimeoutMs} ms (requestTimeoutMs) or its headers within ${c.headersTimeoutMs} ms (headersTimeoutMs)`],
};

/**
 * Answer what Node's HTTP parser refuses (oversized headers, timeouts, garbage) with the agent's
 * JSON error shape, then close: the connection's framing is lost. Like Node's default, write only
 * when no response has started on this socket, so a peer never sees a corrupted answer.
 */
function answerClientError(err: Error & { code?: string }, socket: Socket, cfg: AgentConfig): void {
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
  if (err.code !== 'ECONNRESET' && socket.writable && !inFlight?.headersSent) {
    const [status, reason, code, message] = CLIENT_ERRORS[err.code ?? ''] ?? [400, 'Bad Request', 'bad_http', () => `the request is not valid HTTP/1.1 (${err.code ?? 'parse error'})`];
    const body = JSON.stringify({ error: { code, message: message(cfg) } });
    socket.write(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroySoon();
}

/** A running agent. */
export interface RunningAgent {
  /** e.g. `http://127.0.0.1:8080` */
  readonly url: string;
  readonly port: number;
  readonly config: AgentConfig;
  readonly runtime: AgentRuntime;
  readonly logger: Logger;
  /** The in-process local FC, when the agent uses one. */
  readonly localFc?: LocalFc;
  /** Where FC calls go: `local <url>`, `https://<account>.<region>.fc.aliyuncs.com`, or none. */
  readonly fcEndpoint?: string;
  readonly tiers: readonly Tier[];
  /** Most images per ONNX Runtime run on the edge (Infinity: whole batches); unset without the local edge. */
  readonly edgeChunkSize?: number;
  /** Stop accepting, drain within the grace period, close backends, the local FC and the server. */
  shutdown(graceMs?: number): Promise<void>;
}

/**
 * Start an agent and listen.
 * @example
 * const agent = await startAgent(parseConfig({ port: 0, backends: ['noop'] }));
 * await fetch(`${agent.url}/healthz`);
 * await agent.shutdown();
 */
export async function startAgent(cfg: AgentConfig, options: StartAgentOptions = {}): Promise<RunningAgent> {
  const env = options.env ?? process.env;
  const logger = createLogger(cfg.logLevel, options.logDestination);
  const tiers = loadTiers(cfg.sYaml ?? DEFAULT_S_YAML, env);
  const profile: Profile = loadProfile(cfg.profile);

  const backends: InferenceBackend[] = [];
  // FC's initializer is billed apart and reported nowhere: count the backend's estimate, labelled so.
  const onInitializerEstimate = (e: { target: string; billedMs: number; costUsd: number; source: string }) => {
    runtime.metrics.initializerEstimatedSeconds.inc({ target: e.target, source: e.source }, e.billedMs / 1000);
    runtime.metrics.initializerEstimatedUsd.inc({ target: e.target, source: e.source }, e.costUsd);
  };
  let localFc: LocalFc | undefined;
  let fcEndpoint: string | undefined;
  let edgeChunkSize: number | undefined;
  const cleanup = async () => {
    await Promise.allSettled(backends.map((b) => b.close()));
    await localFc?.close();
  };

  try {
    if (cfg.backends.includes('edge')) {
      const edge = await createLocalOnnxBackend({ workers: cfg.edgeWorkers, intraOpThreads: cfg.intraOpThreads, model: cfg.model, chunkSize: cfg.edgeChunkSize || 'measure' });
      backends.push(edge);
      edgeChunkSize = edge.chunkSizes[0];
      logger.info({ model: edge.model, workers: cfg.edgeWorkers, intraOpThreads: cfg.intraOpThreads, chunkSize: edgeChunkSize, calibration: edge.calibrations[0]?.msPerImage, loadMs: edge.loadMs.map(Math.round) }, 'edge backend up');
    }
    if (cfg.backends.includes('noop')) backends.push(createNoopBackend());
    if (cfg.backends.includes('fc')) {
      const real = !!(cfg.fcAccountId || cfg.access);
      if (real) {
        const creds = resolveFcCredentials({ ...env, ...(cfg.fcAccountId ? { FC_ACCOUNT_ID: cfg.fcAccountId } : {}), ...(cfg.fcRegion ? { FC_REGION: cfg.fcRegion } : {}) }, { access: cfg.access });
        const accountId = cfg.fcAccountId ?? creds?.accountId;
        const region = cfg.fcRegion ?? creds?.region ?? tiers[0]?.region;
        if (!creds) throw new ConfigError('FC_ACCOUNT_ID is set but no credentials were found: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, or an access alias (--access / SEB_ACCESS)');
        if (!accountId) throw new ConfigError('the real FC needs an account id: set FC_ACCOUNT_ID (or --fc-account-id)');
        if (!region) throw new ConfigError('the real FC needs a region: set FC_REGION (or --fc-region)');
        fcEndpoint = cfg.fcEndpoint ?? `https://${accountId}.${region}.fc.aliyuncs.com`;
        backends.push(createFcBackend({ tiers, accountId, region, credentials: creds, ...(cfg.fcEndpoint ? { endpoint: cfg.fcEndpoint } : {}), model: cfg.model, onInitializerEstimate }));
        logger.info({ endpoint: fcEndpoint, credentials: creds.source, tiers: tiers.map((t) => t.key) }, 'fc backend up (Alibaba Cloud Function Compute)');
      } else {
        localFc = await startLocalFc({ port: 0, tiers, profile, maxInstances: LOCAL_FC_INSTANCES, ...options.localFc });
        const key = localFcAccessKey(env);
        const credentials = new FcCredentials({ accessKeyId: localFc.accessKeyId, accessKeySecret: key.accessKeySecret, accountId: localFc.accountId, region: localFc.region, source: 'local FC' });
        fcEndpoint = localFc.url;
        backends.push(
          createFcBackend({
            tiers,
            endpoint: localFc.url,
            accountId: localFc.accountId,
            region: localFc.region,
            credentials,
            model: cfg.model,
            onInitializerEstimate,
          }),
        );
        logger.info({ endpoint: localFc.url, tiers: tiers.map((t) => t.key) }, 'fc backend up (local FC in-process)');
      }
    }
  } catch (err) {
    await cleanup();
    throw err;
  }

  const fcTiers = cfg.backends.includes('fc') ? tiers : [];
  const scheduler = new Scheduler(
    {
      tiers: [...fcTiers],
      profile,
      edgeWorkers: cfg.backends.includes('edge') || cfg.backends.includes('noop') ? cfg.edgeWorkers : 0,
      maxBatch: cfg.maxBatch,
      maxQueue: cfg.maxQueue,
      // The local FC runs a few instances per tier on this machine; plan with that many, not FC's 100.
      ...(localFc ? { tierMaxInstances: options.localFc?.maxInstances ?? LOCAL_FC_INSTANCES, keepAliveMs: options.localFc?.keepAliveMs ?? 300_000 } : {}),
      ...options.scheduler,
    },
    performance.now(),
  );
  const runtime = new AgentRuntime({ scheduler, backends, logger, model: cfg.model });
  const app = createApp(runtime, { defaultDeadlineMs: cfg.defaultDeadlineMs, maxDeadlineMs: cfg.maxDeadlineMs, maxBodyBytes: cfg.maxBodyBytes, token: cfg.token, model: cfg.model });
  if (!cfg.token && !isLoopback(cfg.host)) {
    logger.warn({ host: cfg.host }, 'listening on a non-loopback address without a token: anyone who can reach it can use the agent; set AGENT_TOKEN');
  }

  let server: ServerType;
  const port = await new Promise<number>((resolve, reject) => {
    server = serve(
      {
        fetch: app.fetch,
        port: cfg.port,
        hostname: cfg.host,
        serverOptions: {
          maxHeaderSize: cfg.maxHeaderBytes,
          requestTimeout: cfg.requestTimeoutMs,
          headersTimeout: cfg.headersTimeoutMs,
          // Node checks the two timeouts only this often (30 s by default): keep it well under them.
          connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(cfg.headersTimeoutMs / 4))),
        },
      },
      (info: AddressInfo) => resolve(info.port),
    );
    server.once('error', reject);
    server.on('clientError', (err: Error & { code?: string }, socket: Socket) => answerClientError(err, socket, cfg));
  }).catch(async (err) => {
    await runtime.close();
    await localFc?.close();
    throw err;
  });
  // Lots of short requests from one client: keep sockets alive longer than the default 5 s.
  (server! as unknown as { keepAliveTimeout: number }).keepAliveTimeout = 65_000;
  const hostForUrl = cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host;
  const url = `http://${hostForUrl === '0.0.0.0' ? '127.0.0.1' : hostForUrl}:${port}`;

  let stopping: Promise<void> | null = null;
  return {
    url,
    port,
    config: cfg,
    runtime,
    logger,
    localFc,
    fcEndpoint,
    tiers,
    edgeChunkSize,
    shutdown(graceMs = cfg.shutdownGraceMs) {
      stopping ??= (async () => {
        // New requests now get 503 from the runtime while in-flight ones finish.
        await runtime.drain(graceMs);
        await new Promise<void>((r) => {
          server.close(() => r());
          (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.();
          setTimeout(() => {
            (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
            r();
          }, 2000).unref();
        });
        await localFc?.close();
      })();
      return stopping;
    },
  };
}
