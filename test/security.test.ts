/**
 * Security of the agent over real HTTP on loopback: the bearer token, the default bind address,
 * the warning for a wide bind without a token, and AccessKey secrets: agents run as child
 * processes (`tsx edge-agent/main.ts`) with known fake keys in their environment or in a
 * Serverless Devs access file, at debug level, serve traffic (successes and failures) and every
 * byte they print or answer is searched for the secrets.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../edge-agent/config.ts';
import { startAgent, type RunningAgent } from '../edge-agent/service/agent.ts';
import { startLocalFc, type LocalFc } from '../local-fc/index.ts';
import { renderTextLine } from '../shared/text-line-images.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TOKEN = 'tok-6f1d9c2a-agent-bearer';

function sink(lines: string[]): Writable {
  return new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
}

describe('bearer token (AGENT_TOKEN)', () => {
  let agent: RunningAgent;
  beforeAll(async () => {
    agent = await startAgent(parseConfig({ port: 0, backends: ['noop'], logLevel: 'silent', token: TOKEN }));
  });
  afterAll(async () => {
    await agent?.shutdown(1000);
  });

  it('guards /v1/* and /metrics with 401 JSON + WWW-Authenticate; the right token passes; probes stay open', async () => {
    const get = (path: string, headers: Record<string, string> = {}) => fetch(`${agent.url}${path}`, { headers });
    for (const path of ['/v1/plan', '/metrics']) {
      const none = await get(path);
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(((await none.json()) as any).error).toEqual({ code: 'unauthorized', message: expect.stringMatching(/Authorization: Bearer/) });
      const wrong = await get(path, { authorization: 'Bearer not-the-token' });
      expect(wrong.status).toBe(401);
      const body = await wrong.text();
      expect(body).toMatch(/wrong/);
      expect(body).not.toContain(TOKEN);
      // A prefix of the token, or the token with a suffix, is still wrong.
      expect((await get(path, { authorization: `Bearer ${TOKEN.slice(0, -1)}` })).status).toBe(401);
      expect((await get(path, { authorization: `Bearer ${TOKEN}x` })).status).toBe(401);
      expect((await get(path, { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
    }
    const infer = await fetch(`${agent.url}/v1/infer`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: 'x' });
    expect(infer.status).toBe(401); // refused before the body is even looked at
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(200);
  });
});

describe('limits and timeouts are configuration', () => {
  it('defaults: 16 KiB headers, 30 s request, 10 s headers; env and flags set them; headers ≤ request is enforced', () => {
    const d = parseConfig({});
    expect([d.maxHeaderBytes, d.requestTimeoutMs, d.headersTimeoutMs, d.maxBodyBytes]).toEqual([16 * 1024, 30_000, 10_000, 8 * 1024 * 1024]);
    const r = loadConfig(['--headers-timeout-ms', '2000'], { AGENT_REQUEST_TIMEOUT_MS: '5000', AGENT_MAX_HEADER_BYTES: '4096' });
    expect(r.help ? null : [r.config.requestTimeoutMs, r.config.headersTimeoutMs, r.config.maxHeaderBytes]).toEqual([5000, 2000, 4096]);
    expect(() => parseConfig({ requestTimeoutMs: 1000, headersTimeoutMs: 5000 })).toThrow(ConfigError);
    expect(() => parseConfig({ requestTimeoutMs: 1000, headersTimeoutMs: 5000 })).toThrow(/headersTimeoutMs.*requestTimeoutMs/);
    expect(() => parseConfig({ maxHeaderBytes: 'lots' })).toThrow(/maxHeaderBytes.*--max-header-bytes/);
  });
});

describe('bind address', () => {
  it('defaults to 127.0.0.1: the agent is not reachable on other interfaces', async () => {
    const cfg = parseConfig({ port: 0, backends: ['noop'], logLevel: 'silent' });
    expect(cfg.host).toBe('127.0.0.1');
    const agent = await startAgent(cfg);
    try {
      expect(agent.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect((await fetch(`${agent.url}/healthz`)).status).toBe(200);
      const external = Object.values(networkInterfaces())
        .flat()
        .find((i) => i && i.family === 'IPv4' && !i.internal);
      if (external) {
        // Only checkable where the machine has a non-loopback address.
        await expect(fetch(`http://${external.address}:${agent.port}/healthz`, { signal: AbortSignal.timeout(3000) })).rejects.toThrow();
      }
    } finally {
      await agent.shutdown(1000);
    }
  });

  it('binding 0.0.0.0 without a token logs a warning; with a token, or on loopback, it does not', async () => {
    const run = async (over: Record<string, unknown>) => {
      const lines: string[] = [];
      const agent = await startAgent(parseConfig({ port: 0, backends: ['noop'], logLevel: 'info', ...over }), { logDestination: sink(lines) });
      await agent.shutdown(1000);
      return lines.map((l) => JSON.parse(l) as { level: number; msg: string; host?: string });
    };
    const warned = (logs: { level: number; msg: string; host?: string }[]) => logs.filter((l) => l.level === 40 && /non-loopback.*token/.test(l.msg));
    const open = await run({ host: '0.0.0.0' });
    expect(warned(open)).toHaveLength(1);
    expect(warned(open)[0].host).toBe('0.0.0.0');
    expect(warned(open)[0].msg).toMatch(/AGENT_TOKEN/);
    expect(warned(await run({ host: '0.0.0.0', token: TOKEN }))).toHaveLength(0);
    expect(warned(await run({ host: '127.0.0.1' }))).toHaveLength(0);
  });
});

// ---------------------------------------------------------------- secrets never leave

const SECRET_ENV = 'envSecret-7Q2x9Lk3Vb8nRt5Wz';
const SECRET_FILE = 'fileSecret-4Hs8Jd2Mq6Pc1Xe9';
const SECRET_LOCAL = 'localSecret-9Tg3Bn7Kw2Yf5Ua1';
const SECRETS = [SECRET_ENV, SECRET_FILE, SECRET_LOCAL, TOKEN];
const ACCOUNT = '1234567890123456';

interface ChildRun {
  readonly name: string;
  /** Everything printed and answered. */
  readonly all: string[];
  readonly statuses: Record<string, number>;
}

/** Start `tsx edge-agent/main.ts` with `env`, send traffic, stop it, return everything it said. */
async function runChild(name: string, env: Record<string, string>, png: Uint8Array<ArrayBuffer>): Promise<ChildRun> {
  const all: string[] = [];
  const statuses: Record<string, number> = {};
  const child = spawn(process.execPath, [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), 'edge-agent/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), PORT: '0', LOG_LEVEL: 'debug', AGENT_TOKEN: TOKEN, FC_LOCAL_ACCESS_KEY_ID: 'LTAIlocaltest', FC_LOCAL_ACCESS_KEY_SECRET: SECRET_LOCAL, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stdout.on('data', (d) => all.push(String(d)));
  child.stderr.on('data', (d) => {
    stderr += String(d);
    all.push(String(d));
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name}: no listening line in 40 s; stderr: ${stderr}`)), 40_000);
      child.stderr.on('data', () => {
        const m = /listening on (http:\/\/\S+)/.exec(stderr);
        if (m) (clearTimeout(timer), resolve(m[1]));
      });
      void exited.then((code) => reject(new Error(`${name}: exited with ${code} before listening; stderr: ${stderr}`)));
    });
    const auth = { authorization: `Bearer ${TOKEN}` };
    const call = async (label: string, path: string, init: RequestInit = {}) => {
      const res = await fetch(`${url}${path}`, init);
      statuses[label] = res.status;
      all.push(`${res.status} ${[...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n')}\n${await res.text()}`);
    };
    const img = { ...auth, 'content-type': 'image/png', 'x-deadline-ms': '20000' };
    await call('infer', '/v1/infer', { method: 'POST', headers: img, body: png });
    await call('batch', '/v1/infer/batch', { method: 'POST', headers: { ...auth, 'content-type': 'application/json', 'x-deadline-ms': '20000' }, body: JSON.stringify({ images: [Buffer.from(png).toString('base64'), 'bad!'] }) });
    await call('bad image', '/v1/infer', { method: 'POST', headers: img, body: 'not an image' });
    await call('bad deadline', '/v1/infer', { method: 'POST', headers: { ...img, 'x-deadline-ms': '-1' }, body: png });
    await call('unknown model', '/v1/infer?model=x', { method: 'POST', headers: img, body: png });
    await call('no token', '/v1/plan');
    await call('wrong token', '/v1/plan', { headers: { authorization: 'Bearer nope' } });
    await call('impossible deadline', '/v1/infer', { method: 'POST', headers: { ...img, 'x-deadline-ms': '1' }, body: png });
    await call('plan', '/v1/plan', { headers: auth });
    await call('metrics', '/metrics', { headers: auth });
    await call('openapi', '/openapi.json');
    await call('healthz', '/healthz');
    await call('readyz', '/readyz');
    await call('dashboard', '/');
    await call('404', '/v1/nothing', { headers: auth });
    // The event stream: read its first events (stats, and anything queued), then drop it.
    const ac = new AbortController();
    const sse = await fetch(`${url}/v1/events?access_token=${TOKEN}`, { signal: ac.signal });
    statuses.events = sse.status;
    all.push([...sse.headers].map(([k, v]) => `${k}: ${v}`).join('\n'));
    const reader = sse.body!.getReader();
    const until = Date.now() + 3000;
    let events = '';
    while (!/event: stats/.test(events) && Date.now() < until) {
      const { value, done } = await reader.read();
      if (done) break;
      events += new TextDecoder().decode(value);
    }
    ac.abort();
    all.push(events);
    statuses.sawStats = /event: stats/.test(events) ? 1 : 0;
  } finally {
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000))]);
    if (code === 'hung') child.kill('SIGKILL');
  }
  return { name, all, statuses };
}

describe('AccessKey secrets never appear in output or answers', () => {
  const fcs: LocalFc[] = [];
  let home: string;
  let runs: ChildRun[];
  let help: string;

  beforeAll(async () => {
    const png = new Uint8Array(await renderTextLine('KEY42'));
    // Stand-ins for the real FC endpoint: they accept only the AccessKey pair given here.
    const envFc = await startLocalFc({ accessKeyId: 'LTAIenvtestkey', accessKeySecret: SECRET_ENV, accountId: ACCOUNT, maxInstances: 1 });
    // This one holds a different secret from the access file's, so every call fails to sign: the error paths.
    const fileFc = await startLocalFc({ accessKeyId: 'LTAIfiletestkey', accessKeySecret: 'what-the-server-expects', accountId: ACCOUNT, maxInstances: 1 });
    fcs.push(envFc, fileFc);
    home = mkdtempSync(join(tmpdir(), 'seb-sec-'));
    mkdirSync(join(home, '.s'));
    writeFileSync(join(home, '.s', 'access.yaml'), `edgetest:\n  AccountID: '${ACCOUNT}'\n  AccessKeyID: LTAIfiletestkey\n  AccessKeySecret: ${SECRET_FILE}\n`);
    const common = { AGENT_BACKENDS: 'fc', FC_REGION: 'cn-hangzhou' };
    runs = await Promise.all([
      runChild('env keys → FC', { ...common, FC_ACCOUNT_ID: ACCOUNT, FC_ENDPOINT: envFc.url, ALIBABA_CLOUD_ACCESS_KEY_ID: 'LTAIenvtestkey', ALIBABA_CLOUD_ACCESS_KEY_SECRET: SECRET_ENV }, png),
      runChild('access file alias → FC (wrong key)', { ...common, SEB_ACCESS: 'edgetest', serverless_devs_config_home: home, FC_ENDPOINT: fileFc.url, ALIBABA_CLOUD_ACCESS_KEY_ID: 'LTAIenvtestkey', ALIBABA_CLOUD_ACCESS_KEY_SECRET: SECRET_ENV }, png),
      runChild('in-process local FC', { AGENT_BACKENDS: 'fc' }, png),
    ]);
    help = await new Promise<string>((resolve) => {
      const c = spawn(process.execPath, [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), 'edge-agent/main.ts', '--help'], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', AGENT_TOKEN: TOKEN, ALIBABA_CLOUD_ACCESS_KEY_SECRET: SECRET_ENV, FC_LOCAL_ACCESS_KEY_SECRET: SECRET_LOCAL },
      });
      let out = '';
      c.stdout.on('data', (d) => (out += String(d)));
      c.stderr.on('data', (d) => (out += String(d)));
      c.on('exit', () => resolve(out));
    });
  }, 120_000);

  afterAll(async () => {
    await Promise.all(fcs.map((f) => f.close()));
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('the agents really served traffic, failures included (else the search below proves nothing)', () => {
    const [env, file, local] = runs;
    expect(env.statuses.infer).toBe(200); // signed with the env secret, accepted by the endpoint
    expect(local.statuses.infer).toBe(200); // signed with FC_LOCAL_ACCESS_KEY_SECRET
    expect(file.statuses.infer).toBeGreaterThanOrEqual(500); // signed with the access file's secret, refused
    for (const r of runs) {
      expect(r.statuses, r.name).toMatchObject({ 'bad image': 400, 'bad deadline': 400, 'unknown model': 400, 'no token': 401, 'wrong token': 401, plan: 200, metrics: 200, openapi: 200, events: 200, sawStats: 1 });
      expect(r.all.join('').length).toBeGreaterThan(2000);
      expect(r.all.join('')).toMatch(/"level":20/); // debug lines were written
    }
  });

  it('no secret, in plain or base64, is in any stdout/stderr line, response header or body, or --help', () => {
    expect(help).toMatch(/--max-header-bytes/);
    const haystacks = [...runs.map((r) => ({ name: r.name, text: r.all.join('\n') })), { name: '--help', text: help }];
    for (const { name, text } of haystacks) {
      for (const s of SECRETS) {
        expect(text.includes(s), `${name} contains ${s.slice(0, 8)}…`).toBe(false);
        expect(text.includes(Buffer.from(s).toString('base64')), `${name} contains base64 of ${s.slice(0, 8)}…`).toBe(false);
      }
    }
  });

  it('--help documents the size limits, timeouts, token and where credentials come from', () => {
    for (const flag of ['--max-body-bytes', '--max-header-bytes', '--request-timeout-ms', '--headers-timeout-ms', '--token', '--host']) expect(help).toContain(flag);
    expect(help).toMatch(/AGENT_REQUEST_TIMEOUT_MS/);
    expect(help).toMatch(/ALIBABA_CLOUD_ACCESS_KEY_SECRET/);
    expect(help).toMatch(/access\.yaml/);
  });
});
