/**
 * Assembling a running agent from its configuration: tiers and profile, backends (local ONNX or
 * noop for `edge`; for the tiers, the FC the configuration names, else the one an
 * {@link FcProvider} supplies), the scheduling core, the runtime, the HTTP app and its server.
 * main.ts, the tests and the benchmark all start agents through {@link startAgent}, so they run
 * exactly what a user runs. This module knows nothing of the local FC: main.ts passes it in as a
 * provider (edge-agent/dev/embedded-local-fc.ts).
 */
import type { ServerResponse } from 'node:http';
import { isIP, type AddressInfo, type Socket } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { DestinationStream } from 'pino';
import { Scheduler } from '../core/index.ts';
import { loadProfile, type Profile } from '../../shared/profile.ts';
import { loadTiers, DEFAULT_S_YAML, type Tier } from '../../shared/tiers.ts';
import type { InferenceBackend } from '../backends/backend.ts';
import { createFcBackend } from '../backends/fc.ts';
import { resolveFcCredentials, type FcCredentials } from '../backends/fc-credentials.ts';
import { chooseEdgeLayout, deviceCores } from '../backends/edge-layout.ts';
import { createLocalOnnxBackend, edgeSetupOf, type EdgeSetup } from '../backends/local-onnx.ts';
import { projectCacheDir } from '../../shared/cache-dir.ts';
import { createNoopBackend } from '../backends/noop.ts';
import { ConfigError, type AgentConfig } from '../config.ts';
import { createApp } from './app.ts';
import { createLogger, type Logger } from './logging.ts';
import { AgentRuntime } from './runtime.ts';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * A Function Compute the agent did not configure itself (e.g. the local FC of development):
 * where the FC backend calls, with which credentials, and how to stop it.
 */
export interface FcConnection {
  /** Base URL, e.g. `http://127.0.0.1:9000`. */
  readonly endpoint: string;
  readonly accountId: string;
  readonly region: string;
  readonly credentials: FcCredentials;
  /** How the start-up line names it, e.g. `local FC at http://127.0.0.1:9000`. */
  readonly description: string;
  /**
   * Set when it is far smaller than Alibaba's FC: the instances per tier and keep-alive the
   * scheduler plans with (instead of FC's 100 instances per tier).
   */
  readonly capacity?: { readonly tierMaxInstances: number; readonly keepAliveMs: number };
  /** Stop it; called once, after the FC backend is closed. */
  close(): Promise<void>;
}

/** Starts an {@link FcConnection} for the agent's tiers and profile. */
export type FcProvider<F extends FcConnection = FcConnection> = (ctx: { readonly tiers: readonly Tier[]; readonly profile: Profile; readonly env: Env }) => Promise<F>;

export interface StartAgentOptions<F extends FcConnection = FcConnection> {
  /** Environment for FC credentials and s.yaml's `${env(...)}`. @default process.env */
  readonly env?: Env;
  /** Log destination (a test passes a stream). @default stdout */
  readonly logDestination?: DestinationStream;
  /**
   * The FC for backend `fc` when the configuration names none (no FC account id or access
   * alias). `npm start` passes the embedded local FC (edge-agent/dev/embedded-local-fc.ts).
   * @default none: backend `fc` then needs a configured FC
   */
  readonly fc?: FcProvider<F>;
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
export interface RunningAgent<F extends FcConnection = FcConnection> {
  /** e.g. `http://127.0.0.1:8080` */
  readonly url: string;
  readonly port: number;
  readonly config: AgentConfig;
  readonly runtime: AgentRuntime;
  readonly logger: Logger;
  /** The FC from {@link StartAgentOptions.fc}, when the agent uses it. */
  readonly fc?: F;
  /** Where FC calls go, e.g. `https://<account>.<region>.fc.aliyuncs.com`, or none. */
  readonly fcEndpoint?: string;
  readonly tiers: readonly Tier[];
  /** How the local edge runs (workers, threads, chunk, calibrated items/s); unset without it. */
  readonly edgeSetup?: EdgeSetup;
  /** Stop accepting, drain within the grace period, close backends, the provided FC and the server. */
  shutdown(graceMs?: number): Promise<void>;
}

/**
 * Start an agent and listen.
 * @example
 * const agent = await startAgent(parseConfig({ port: 0, backends: ['noop'] }));
 * await fetch(`${agent.url}/healthz`);
 * await agent.shutdown();
 */
export async function startAgent<F extends FcConnection = FcConnection>(cfg: AgentConfig, options: StartAgentOptions<F> = {}): Promise<RunningAgent<F>> {
  const env = options.env ?? process.env;
  const logger = createLogger(cfg.logLevel, options.logDestination);
  const tiers = loadTiers(cfg.sYaml ?? DEFAULT_S_YAML, env);
  const profile: Profile = loadProfile(cfg.profile);

  const backends: InferenceBackend[] = [];
  let provided: F | undefined;
  // FC's initializer is billed apart and reported nowhere: count the backend's estimate, labelled so.
  const onInitializerEstimate = (e: { target: string; billedMs: number; costUsd: number; source: string }) => {
    runtime.metrics.initializerEstimatedSeconds.inc({ target: e.target, source: e.source }, e.billedMs / 1000);
    runtime.metrics.initializerEstimatedUsd.inc({ target: e.target, source: e.source }, e.costUsd);
  };
  let fcEndpoint: string | undefined;
  let edgeSetup: EdgeSetup | undefined;
  const needsProvider = cfg.backends.includes('fc') && !(cfg.fcAccountId || cfg.access);
  // An FC the agent starts itself is the local emulator, on this device's cores.
  const layout = chooseEdgeLayout({ device: deviceCores(), fcOnDevice: needsProvider, workers: cfg.edgeWorkers, intraOpThreads: cfg.intraOpThreads });
  const cleanup = async () => {
    await Promise.allSettled(backends.map((b) => b.close()));
    await provided?.close();
  };

  try {
    // The edge's model load (and chunk calibration) and the FC provider's start (the local FC's
    // own process for `npm start`) overlap: start-up is the longer of the two, not their sum.
    if (needsProvider && !options.fc) throw new ConfigError('backend fc needs a Function Compute: set FC_ACCOUNT_ID and FC_REGION with an AccessKey pair (ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET) or an access alias (--access / SEB_ACCESS); `npm start` runs the local FC in a process of its own when none is set');
    const [edgeStart, fcStart] = await Promise.allSettled([
      cfg.backends.includes('edge')
        ? createLocalOnnxBackend({ workers: layout.workers, intraOpThreads: layout.intraOpThreads, model: cfg.model, chunkSize: cfg.edgeChunkSize || 'measure', calibrationCacheDir: projectCacheDir('seb-calibration') })
        : Promise.resolve(undefined),
      needsProvider ? options.fc!({ tiers, profile, env }) : Promise.resolve(undefined),
    ]);
    if (edgeStart.status === 'fulfilled' && edgeStart.value) backends.push(edgeStart.value);
    if (fcStart.status === 'fulfilled') provided = fcStart.value;
    if (edgeStart.status === 'rejected') throw edgeStart.reason;
    if (fcStart.status === 'rejected') throw fcStart.reason;
    const edge = edgeStart.value;
    if (edge) {
      edgeSetup = edgeSetupOf(edge, layout);
      logger.info({ ...edgeSetup, loadMs: edge.loadMs.map(Math.round) }, 'edge backend up');
    }
    if (cfg.backends.includes('noop')) backends.push(createNoopBackend());
    if (cfg.backends.includes('fc')) {
      if (!provided) {
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
        const fc = provided;
        fcEndpoint = fc.endpoint;
        backends.push(createFcBackend({ tiers, endpoint: fc.endpoint, accountId: fc.accountId, region: fc.region, credentials: fc.credentials, model: cfg.model, onInitializerEstimate }));
        logger.info({ endpoint: fc.endpoint, credentials: fc.credentials.source, tiers: tiers.map((t) => t.key) }, `fc backend up (${fc.description})`);
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
      // noop stands in for the edge with the configured workers (1 unless set): it runs no model.
      edgeWorkers: cfg.backends.includes('edge') ? layout.workers : cfg.backends.includes('noop') ? Math.max(1, cfg.edgeWorkers) : 0,
      maxBatch: cfg.maxBatch,
      // The agent's --max-batch bounds every target, the edge included.
      edgeMaxBatch: cfg.maxBatch,
      maxQueue: cfg.maxQueue,
      // A small FC (the local one runs a few instances per tier on this machine): plan with its limits, not FC's 100.
      ...(provided?.capacity ? { tierMaxInstances: provided.capacity.tierMaxInstances, keepAliveMs: provided.capacity.keepAliveMs } : {}),
      ...options.scheduler,
    },
    performance.now(),
  );
  const runtime = new AgentRuntime({ scheduler, backends, logger, model: cfg.model, ...(edgeSetup ? { edgeSetup } : {}) });
  const app = createApp(runtime, { defaultDeadlineMs: cfg.defaultDeadlineMs, maxDeadlineMs: cfg.maxDeadlineMs, maxBodyBytes: cfg.maxBodyBytes, maxBatch: cfg.maxBatch, token: cfg.token, model: cfg.model });
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
    await provided?.close();
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
    fc: provided,
    fcEndpoint,
    tiers,
    ...(edgeSetup ? { edgeSetup } : {}),
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
        await provided?.close();
      })();
      return stopping;
    },
  };
}
