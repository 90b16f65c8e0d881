// Run the real agent (`edge-agent/main.ts`) as a child process on a free loopback port, for tests
// that need it exactly as a user starts it (dashboard in a browser, load generator).
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface AgentProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  /** SIGTERM, then SIGKILL after 10 s. */
  stop(): Promise<void>;
}

/** Start the agent and wait until it answers `/v1/plan` (model and local FC up). */
export async function startAgentProcess(args: readonly string[] = [], env: NodeJS.ProcessEnv = {}): Promise<AgentProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['--import', 'tsx', 'edge-agent/main.ts', '--port', String(port), '--log-level', 'warn', ...args], {
    cwd: REPO,
    env: { ...process.env, PORT: String(port), AGENT_TOKEN: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  const end = Date.now() + 90_000;
  for (;;) {
    if (await fetch(`${url}/v1/plan`).then((r) => r.ok, () => false)) break;
    if (Date.now() > end || child.exitCode !== null) {
      await stop();
      throw new Error(`agent did not come up\n${log.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, child, output: () => log, stop };
}
