/**
 * Development only: the local FC (local-fc/, an emulator of Alibaba Cloud Function Compute)
 * started in-process and handed to the agent as its FC. This is what `npm start` uses when no
 * Function Compute is configured, and what tests and benchmarks use to get real HTTP, real
 * signatures and real inference without an account. The agent's service, backends and core
 * never import the emulator; this module is the one place that wires the two together.
 *
 * @example
 * const agent = await startAgent(cfg, { fc: embeddedLocalFc({ maxInstances: 2 }) });
 * agent.fc?.localFc.setLink({ mbps: 2 }); // the emulator's own controls
 */
import { startLocalFc, localFcAccessKey, type LocalFc } from '../../local-fc/index.ts';
import { FcCredentials } from '../backends/fc-credentials.ts';
import type { FcConnection, FcProvider } from '../service/agent.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** Instances per tier of the embedded local FC (each is a worker thread with its own model). */
export const EMBEDDED_LOCAL_FC_INSTANCES = 2;
/** Keep-alive of the embedded local FC's idle instances, ms (the local FC's own default). */
const EMBEDDED_LOCAL_FC_KEEP_ALIVE_MS = 300_000;

export interface EmbeddedLocalFcOptions {
  /** Instances per tier at once (beyond: 429). @default 2 */
  readonly maxInstances?: number;
  /** Idle instances are reclaimed after this long, ms. @default 300000 */
  readonly keepAliveMs?: number;
  /** Module exporting `handler` and `initializer`. @default the project's FC function (functions/index.ts) */
  readonly handlerModule?: string;
}

/** The embedded local FC as the agent sees it, plus the emulator itself (ledger, link, faults). */
export interface EmbeddedLocalFc extends FcConnection {
  readonly localFc: LocalFc;
}

/**
 * What the FC backend needs to call a running local FC: its endpoint, account, region and the
 * AccessKey pair it accepts (FC_LOCAL_ACCESS_KEY_ID / FC_LOCAL_ACCESS_KEY_SECRET, else the
 * documented development defaults).
 * @example createFcBackend({ tiers, ...localFcEndpoint(await startLocalFc({ tiers })) })
 */
export function localFcEndpoint(fc: LocalFc, env: Env = process.env): { endpoint: string; accountId: string; region: string; credentials: FcCredentials } {
  const key = localFcAccessKey(env);
  return {
    endpoint: fc.url,
    accountId: fc.accountId,
    region: fc.region,
    credentials: new FcCredentials({ accessKeyId: fc.accessKeyId, accessKeySecret: key.accessKeySecret, accountId: fc.accountId, region: fc.region, source: 'local FC' }),
  };
}

/**
 * A provider for `startAgent`'s `fc` option: starts a local FC on an ephemeral loopback port with
 * the agent's tiers (from s.yaml) and profile, and tells the scheduler how small it is.
 */
export function embeddedLocalFc(opts: EmbeddedLocalFcOptions = {}): FcProvider<EmbeddedLocalFc> {
  const maxInstances = opts.maxInstances ?? EMBEDDED_LOCAL_FC_INSTANCES;
  const keepAliveMs = opts.keepAliveMs ?? EMBEDDED_LOCAL_FC_KEEP_ALIVE_MS;
  return async ({ tiers, profile, env }) => {
    // The pair it accepts and the pair the backend signs with come from the same environment.
    const key = localFcAccessKey(env);
    const localFc = await startLocalFc({
      port: 0,
      tiers,
      profile,
      maxInstances,
      keepAliveMs,
      accessKeyId: key.accessKeyId,
      accessKeySecret: key.accessKeySecret,
      ...(opts.handlerModule ? { handlerModule: opts.handlerModule } : {}),
    });
    return {
      ...localFcEndpoint(localFc, env),
      description: `local FC at ${localFc.url}`,
      capacity: { tierMaxInstances: maxInstances, keepAliveMs },
      localFc,
      close: () => localFc.close(),
    };
  };
}
