/**
 * The agent as a user runs it — `npm start`'s command (edge-agent/start.mjs: main.ts compiled,
 * run by plain node) and `tsx edge-agent/main.ts` — a child process that prints its URL, serves,
 * and on SIGTERM drains: every request in flight still gets its one response, new ones get 503,
 * and the process exits 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startCommand } from '../bench/rss.ts';
import { renderTextLine } from '../shared/text-line-images.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSX = fileURLToPath(new URL('../node_modules/.bin/tsx', import.meta.url));
const children: ChildProcess[] = [];
const npmStart = startCommand((JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } }).scripts.start);

interface Launcher {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}
const LAUNCHERS: readonly Launcher[] = [
  { name: 'npm start', command: process.execPath, args: npmStart.args, env: npmStart.env },
  { name: 'tsx edge-agent/main.ts', command: TSX, args: ['edge-agent/main.ts'], env: {} },
];

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

function startChild(launcher: Launcher, env: Record<string, string>, args: string[] = []): { child: ChildProcess; url: Promise<string>; exit: Promise<number | null>; stderr: () => string } {
  const child = spawn(launcher.command, [...launcher.args, ...args], { cwd: ROOT, env: { ...process.env, ...launcher.env, PORT: '0', LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let err = '';
  child.stdout!.resume();
  const url = new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += String(d);
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`agent exited with ${code} before listening:\n${err}`)));
  });
  url.catch(() => {}); // tests that expect an early exit never await the URL
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, url, exit, stderr: () => err };
}

describe.each(LAUNCHERS)('agent process ($name)', (launcher) => {
  it('--help prints every option and exits 0', async () => {
    const { child, exit } = startChild(launcher, {}, ['--help']);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += String(d)));
    expect(await exit).toBe(0);
    expect(out).toContain('--default-deadline-ms');
    expect(out).toContain('AGENT_TOKEN');
  });

  it('a bad option exits 2 with a message naming it', async () => {
    const { exit, stderr } = startChild(launcher, { AGENT_EDGE_WORKERS: 'many' });
    expect(await exit).toBe(2);
    expect(stderr()).toContain('Expected `edgeWorkers` to be an integer');
  });

  it('SIGTERM with requests in flight loses none: each gets one response, then exit 0', async () => {
    const { child, url: urlP, exit, stderr } = startChild(launcher, { AGENT_BACKENDS: 'edge' });
    const url = await urlP;
    expect(stderr()).toMatch(/backends: edge/);
    const png = new Uint8Array(await renderTextLine('DRAIN42'));
    const N = 24;
    const send = () =>
      fetch(`${url}/v1/infer`, { method: 'POST', headers: { 'content-type': 'image/png', 'x-deadline-ms': '20000' }, body: png }).then(
        async (r): Promise<{ status: number; body: Record<string, any> }> => ({ status: r.status, body: (await r.json()) as Record<string, any> }),
        (e: Error): { status: number; body: Record<string, any> } => ({ status: 0, body: { error: { code: 'network', message: e.message } } }),
      );
    const inFlight = Array.from({ length: N }, send);
    // Let them reach the agent, then ask it to stop while they are still queued or running.
    await new Promise((r) => setTimeout(r, 150));
    child.kill('SIGTERM');
    // Once the agent says it is draining, a new request must be refused.
    const deadline = Date.now() + 5000;
    while (!/draining/.test(stderr()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const pendingAtSignal = Number(/SIGTERM, draining (\d+) pending/.exec(stderr())?.[1]);
    expect(pendingAtSignal, `some requests were still in flight when the signal came; stderr: ${stderr().slice(-800)}`).toBeGreaterThan(0);
    const late = await send();
    const results = await Promise.all(inFlight);
    expect(await exit).toBe(0);
    // Every in-flight request got an HTTP answer (no reset socket), and all were served.
    expect(results.map((r) => r.status)).toEqual(Array(N).fill(200));
    for (const r of results) expect(r.body.text).toBe('DRAIN42');
    // A request after SIGTERM is refused (503) or finds the port closed, never left hanging.
    expect([503, 0]).toContain(late.status);
    if (late.status === 503) expect(late.body.error.code).toBe('shutting_down');
  });
});
