import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, OPTIONS, helpText, loadConfig, parseConfig } from '../edge-agent/config.ts';
import { HttpError } from '../edge-agent/service/errors.ts';
import { bodyOf, checkImage, decodeBase64Image, readImages, sniffImageType } from '../edge-agent/service/image-input.ts';
import { deadlineBudgetMs } from '../edge-agent/service/infer-routes.ts';
import { renderTextLine } from '../shared/text-line-images.ts';

function config(argv: string[], env: Record<string, string> = {}) {
  const r = loadConfig(argv, env);
  if (r.help) throw new Error('unexpected --help');
  return r.config;
}

function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

describe('agent config', () => {
  it('loadConfig layers defaults < config file < env < flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-cfg-'));
    const file = join(dir, 'agent.yaml');
    writeFileSync(file, 'port: 9100\nedgeWorkers: 3\nmaxQueue: 50\nmodel: other\n');
    const c = config(['--config', file, '--edge-workers', '2'], { PORT: '9200', AGENT_MAX_QUEUE: '70' });
    expect(c.port).toBe(9200); // env beats the file
    expect(c.edgeWorkers).toBe(2); // flag beats the file
    expect(c.maxQueue).toBe(70); // env beats the file
    expect(c.model).toBe('other'); // file beats the default
    expect(c.defaultDeadlineMs).toBe(1000); // default
    expect(c.backends).toEqual(['edge', 'fc']);
    expect(c.edgeChunkSize).toBe(0); // measured at start-up
    expect(config(['--edge-chunk-size', '4']).edgeChunkSize).toBe(4);
  });

  it('loadConfig reads a JSON config file and rejects unknown keys in it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-cfg-'));
    const good = join(dir, 'a.json');
    writeFileSync(good, JSON.stringify({ backends: 'noop', defaultDeadlineMs: 250 }));
    expect(config(['--config', good])).toMatchObject({ backends: ['noop'], defaultDeadlineMs: 250 });
    const bad = join(dir, 'b.json');
    writeFileSync(bad, JSON.stringify({ edgeWorker: 2 }));
    expect(thrown(() => config(['--config', bad])).message).toMatch(/unknown option `edgeWorker`/);
  });

  it('bad values throw a ConfigError naming the option, its flag and env, and the value', () => {
    const e = thrown(() => config(['--edge-workers=-3']));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toContain('Expected `edgeWorkers` to be an integer 0–64, got `-3`');
    expect(e.message).toContain('--edge-workers');
    expect(thrown(() => config([], { PORT: 'abc' })).message).toContain('Expected `port` to be an integer 0–65535, got `abc` (flag --port, env PORT)');
    expect(thrown(() => config(['--backends', 'edge,gpu'])).message).toContain('got `gpu`');
    expect(thrown(() => config(['--backends', 'edge,noop'])).message).toMatch(/at most one of edge and noop/);
    expect(thrown(() => config(['--default-deadline-ms', '90000'])).message).toMatch(/defaultDeadlineMs.*≤ `maxDeadlineMs`/);
    expect(thrown(() => config(['--nope', '1']))).toBeInstanceOf(ConfigError);
    expect(thrown(() => config([], { AGENT_EDGE_CHUNK_SIZE: '-1' })).message).toContain('Expected `edgeChunkSize` to be an integer 0–256, got `-1`');
  });

  it('--help asks for help, and the text lists every option with its env name and default', () => {
    expect(loadConfig(['--help'], {})).toEqual({ help: true });
    const text = helpText();
    for (const o of OPTIONS) {
      expect(text).toContain(`--${o.flag}`);
      if (o.env) expect(text).toContain(`env ${o.env}`);
      if (o.default !== undefined) expect(text).toContain(`default ${o.default}`);
    }
  });

  it('parseConfig fills defaults for a partial object (as tests and benches build it)', () => {
    const c = parseConfig({ port: 0, backends: ['noop'] });
    expect(c).toMatchObject({ port: 0, host: '127.0.0.1', backends: ['noop'], defaultDeadlineMs: 1000, maxBodyBytes: 8 * 1024 * 1024 });
  });
});

describe('agent image input', () => {
  it('sniffImageType recognises PNG, JPEG and WebP by their magic bytes', async () => {
    const png = await renderTextLine('AB12');
    const sharp = (await import('sharp')).default;
    expect(sniffImageType(png)).toBe('image/png');
    expect(sniffImageType(await sharp(png).jpeg().toBuffer())).toBe('image/jpeg');
    expect(sniffImageType(await sharp(png).webp().toBuffer())).toBe('image/webp');
    expect(sniffImageType(Buffer.from('GIF89a........'))).toBeUndefined();
  });

  it('checkImage refuses a mislabelled, empty or unsupported image with a 4xx naming it', async () => {
    const png = await renderTextLine('AB12');
    expect(checkImage('x', 'image/png', png).type).toBe('image/png');
    expect(checkImage('x', undefined, png).type).toBe('image/png');
    const mislabel = thrown(() => checkImage('photo', 'image/jpeg', png)) as HttpError;
    expect([mislabel.status, mislabel.code]).toEqual([400, 'bad_image']);
    expect(mislabel.message).toContain('`photo` is declared image/jpeg but its bytes are image/png');
    expect((thrown(() => checkImage('g', 'image/gif', png)) as HttpError).status).toBe(415);
    expect((thrown(() => checkImage('e', 'image/png', new Uint8Array())) as HttpError).code).toBe('empty_image');
    expect((thrown(() => checkImage('t', 'image/png', Buffer.from('not an image at all'))) as HttpError).code).toBe('bad_image');
  });

  it('decodeBase64Image takes plain and data-URL base64 and refuses junk', async () => {
    const png = await renderTextLine('AB12');
    expect(Buffer.from(decodeBase64Image('image', png.toString('base64')).bytes).equals(png)).toBe(true);
    expect(decodeBase64Image('image', `data:image/png;base64,${png.toString('base64')}`).type).toBe('image/png');
    expect((thrown(() => decodeBase64Image('image', '***')) as HttpError).code).toBe('bad_base64');
    expect((thrown(() => decodeBase64Image('image', 42)) as HttpError).status).toBe(400);
  });

  it('readImages reads raw, multipart (one or many) and JSON bodies', async () => {
    const a = await renderTextLine('AB12');
    const b = await renderTextLine('CD34');
    const raw = await readImages(bodyOf(new Request('http://x/', { method: 'POST', headers: { 'content-type': 'image/png' }, body: a })), false);
    expect(raw.map((i) => i.bytes.length)).toEqual([a.length]);
    const form = new FormData();
    form.append('image', new Blob([a], { type: 'image/png' }), 'a.png');
    form.append('other', new Blob([b], { type: 'image/png' }), 'b.png');
    expect((await readImages(bodyOf(new Request('http://x/', { method: 'POST', body: form })), true)).map((i) => i.name)).toEqual(['a.png', 'b.png']);
    expect((await readImages(bodyOf(new Request('http://x/', { method: 'POST', body: form })), false)).map((i) => i.name)).toEqual(['a.png']);
    const json = await readImages(bodyOf(new Request('http://x/', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ images: [a.toString('base64'), b.toString('base64')] }) })), true);
    expect(json.map((i) => i.bytes.length)).toEqual([a.length, b.length]);
    const bad = await readImages(bodyOf(new Request('http://x/', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hi' })), false).catch((e: HttpError) => e);
    expect((bad as HttpError).status).toBe(415);
  });

  it('deadlineBudgetMs takes the header, then the query, then the default, and refuses bad values', () => {
    const o = { defaultDeadlineMs: 1000, maxDeadlineMs: 5000 };
    expect(deadlineBudgetMs('250', '900', o)).toBe(250);
    expect(deadlineBudgetMs(undefined, '900', o)).toBe(900);
    expect(deadlineBudgetMs(undefined, undefined, o)).toBe(1000);
    for (const bad of ['0', '-5', 'soon', '1e3x', '6000']) {
      const e = thrown(() => deadlineBudgetMs(bad, undefined, o)) as HttpError;
      expect([e.status, e.code]).toEqual([400, 'bad_deadline']);
      expect(e.message).toContain('X-Deadline-Ms');
    }
  });
});

describe('agent FC selection and logging', () => {
  it('FC_ACCOUNT_ID + FC_REGION + keys select the real FC endpoint (no local FC); missing keys are a ConfigError', async () => {
    const { startAgent } = await import('../edge-agent/service/agent.ts');
    const home = mkdtempSync(join(tmpdir(), 'agent-home-')); // no ~/.s/access.yaml here
    const cfg = parseConfig({ port: 0, backends: ['fc'], fcAccountId: '1234567890', fcRegion: 'cn-shanghai', logLevel: 'silent' });
    const noKeys = await startAgent(cfg, { env: { serverless_devs_config_home: home } }).catch((e: Error) => e);
    expect(noKeys).toBeInstanceOf(ConfigError);
    expect((noKeys as Error).message).toMatch(/no credentials/);
    const agent = await startAgent(cfg, { env: { serverless_devs_config_home: home, ALIBABA_CLOUD_ACCESS_KEY_ID: 'LTAIexample', ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'not-a-real-secret' } });
    try {
      expect(agent.fcEndpoint).toBe('https://1234567890.cn-shanghai.fc.aliyuncs.com');
      expect(agent.fc).toBeUndefined();
      expect(agent.runtime.targets).toEqual(agent.tiers.map((t) => t.key));
    } finally {
      await agent.shutdown(500);
    }
  });

  it('backend fc with no FC configured and no provider is a ConfigError (the service never starts the local FC itself)', async () => {
    const { startAgent } = await import('../edge-agent/service/agent.ts');
    const home = mkdtempSync(join(tmpdir(), 'agent-home-'));
    const err = await startAgent(parseConfig({ port: 0, backends: ['fc'], logLevel: 'silent' }), { env: { serverless_devs_config_home: home } }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/backend fc needs a Function Compute.*FC_ACCOUNT_ID/);
  });

  it('createLogger redacts secrets and tokens wherever they sit in a logged object', async () => {
    const { createLogger } = await import('../edge-agent/service/logging.ts');
    const lines: string[] = [];
    const log = createLogger('info', { write: (s: string) => void lines.push(s) });
    log.info({ accessKeySecret: 'S1', token: 'T1', credentials: { accessKeySecret: 'S2' }, req: { headers: { authorization: 'Bearer T2' } }, config: { token: 'T3' }, keep: 'visible' }, 'x');
    const out = lines.join('');
    for (const secret of ['S1', 'S2', 'T1', 'T2', 'T3']) expect(out).not.toContain(`"${secret}"`);
    expect(out).not.toContain('Bearer T2');
    expect(JSON.parse(out).keep).toBe('visible');
  });
});
