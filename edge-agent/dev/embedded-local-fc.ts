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
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { startLocalFc, localFcAccessKey, type LocalFc } from '../../local-fc/index.ts';
import { FcCredentials } from '../backends/fc-credentials.ts';
import type { FcConnection, FcProvider } from '../service/agent.ts';
import type { FromLocalFcProcess, ToLocalFcProcess } from './local-fc-process.ts';

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
export function localFcEndpoint(fc: Pick<LocalFc, 'url' | 'accountId' | 'region' | 'accessKeyId'>, env: Env = process.env): { endpoint: string; accountId: string; region: string; credentials: FcCredentials } {
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

/**
 * Nice value of the local FC's own process (`localFcProcess`): its instances stand for machines
 * in the cloud and must not take the device's CPU from the agent and its edge workers. Measured
 * (`npm run bench:overload -- --factor 3 --duration 10 --recovery 0 --tiers 5`, quiet 2-core
 * machine): with the local FC inside the agent's process, 3× overload kept 0.34× capacity in
 * goodput while the edge alone kept 0.90×.
 */
export const LOCAL_FC_PROCESS_NICE = 10;

export interface LocalFcProcessOptions extends EmbeddedLocalFcOptions {
  /** How much lower than the agent the whole process runs, every thread included (a nice increment 0–19, added to the agent's own, capped at 19). @default FC_LOCAL_NICE, else {@link LOCAL_FC_PROCESS_NICE} */
  readonly nice?: number;
}

/**
 * A provider for `startAgent`'s `fc` option, like {@link embeddedLocalFc}, with the local FC in
 * a child process of its own (what `npm start` uses). In the agent's process its instances
 * would share everything with the edge: the cores at the same priority, and libuv's and the
 * image decoder's thread pools (an instance's image decodes queue behind and before the edge's).
 * A process of its own at a lower priority (every thread, started through `nice`) gets the CPU
 * the agent leaves, as a remote FC would cost the device none. The emulator's controls are then
 * its admin endpoints (`/local/ledger`, `/local/link`, `/local/faults`; local-fc/README.md).
 */
export function localFcProcess(opts: LocalFcProcessOptions = {}): FcProvider {
  const maxInstances = opts.maxInstances ?? EMBEDDED_LOCAL_FC_INSTANCES;
  const keepAliveMs = opts.keepAliveMs ?? EMBEDDED_LOCAL_FC_KEEP_ALIVE_MS;
  return async ({ tiers, profile, env }) => {
    const key = localFcAccessKey(env);
    const nice = opts.nice ?? (env.FC_LOCAL_NICE !== undefined ? Number(env.FC_LOCAL_NICE) : LOCAL_FC_PROCESS_NICE);
    if (!Number.isInteger(nice) || nice < 0 || nice > 19) throw new RangeError(`Expected the local FC's nice value (FC_LOCAL_NICE) to be an integer 0–19, got \`${String(nice)}\``);
    const entry = new URL('./local-fc-process.ts', import.meta.url).pathname;
    const node = [process.execPath, '--import', 'tsx', entry];
    // `nice` (coreutils) lowers the process before its first thread starts, so every thread inherits it.
    const cmd = nice > 0 && existsSync('/usr/bin/nice') ? ['/usr/bin/nice', '-n', String(nice), ...node] : node;
    const child = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, ...env } });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const ready = new Promise<Extract<FromLocalFcProcess, { type: 'listening' }>>((resolve, reject) => {
      child.on('message', (m: FromLocalFcProcess) => (m.type === 'listening' ? resolve(m) : reject(new Error(`local FC process: ${m.message}`))));
      child.once('exit', (code) => reject(new Error(`local FC process exited with code ${code} before listening`)));
      child.once('error', reject);
    });
    const start: ToLocalFcProcess = {
      type: 'start',
      options: { port: 0, tiers, profile, maxInstances, keepAliveMs, accessKeyId: key.accessKeyId, accessKeySecret: key.accessKeySecret, ...(opts.handlerModule ? { handlerModule: opts.handlerModule } : {}) },
    };
    child.send(start);
    let at: Extract<FromLocalFcProcess, { type: 'listening' }>;
    try {
      at = await ready;
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    return {
      ...localFcEndpoint(at, env),
      description: `local FC at ${at.url}, own process${nice > 0 ? ` at nice ${nice}` : ''}`,
      capacity: { tierMaxInstances: maxInstances, keepAliveMs },
      close: async () => {
        if (child.exitCode === null && child.signalCode === null) {
          const close: ToLocalFcProcess = { type: 'close' };
          child.send(close);
          // Instances finish their call (bounded by the function timeout) before the process ends.
          const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
          await exited;
          clearTimeout(timer);
        }
      },
    };
  };
}
