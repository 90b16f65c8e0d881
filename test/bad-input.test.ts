/**
 * Bad input, table-driven, over real HTTP on loopback against a real agent (real ONNX on the
 * edge, the in-process local FC) and against the local FC's frame decoding through signed
 * requests. Every case gets a 4xx JSON error naming the problem (or, for a slow client, a 408
 * and a closed connection); afterwards the agent still answers a normal request correctly.
 */
import { connect } from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../edge-agent/config.ts';
import { startAgent, type RunningAgent } from '../edge-agent/service/agent.ts';
import { embeddedLocalFc, type EmbeddedLocalFc } from '../edge-agent/dev/embedded-local-fc.ts';
import { errorBodySchema } from '../edge-agent/service/api-schemas.ts';
import { composeStringToSign, LOCAL_FC_DEFAULT_ACCESS_KEY_SECRET, signFc } from '../local-fc/index.ts';
import { encodeBatch } from '../shared/wire/index.ts';
import { renderTextLine } from '../shared/text-line-images.ts';

const TEXT = 'EDGE2026';
const REQUEST_TIMEOUT_MS = 1500;
const HEADERS_TIMEOUT_MS = 1000;
let agent: RunningAgent<EmbeddedLocalFc>;
let png: Buffer;
let jpeg: Buffer;
let webp: Buffer;

beforeAll(async () => {
  agent = await startAgent(
    parseConfig({
      port: 0,
      backends: ['edge', 'fc'],
      edgeWorkers: 1,
      logLevel: 'silent',
      maxBodyBytes: 256 * 1024,
      maxHeaderBytes: 8 * 1024,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      headersTimeoutMs: HEADERS_TIMEOUT_MS,
    }),
    { fc: embeddedLocalFc({ maxInstances: 1 }) },
  );
  png = await renderTextLine(TEXT);
  jpeg = await sharp(png).jpeg({ quality: 90 }).toBuffer();
  webp = await sharp(png).webp({ quality: 90 }).toBuffer();
});

afterAll(async () => {
  await agent?.shutdown(2000);
});

// ---------------------------------------------------------------- hand-made inputs

/** Seeded bytes that start with none of the image magic numbers. */
function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) b[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
  b[0] = 0x00;
  return b;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function pngChunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])));
  return Buffer.concat([head, data, crc]);
}
/** A valid-looking PNG of a few hundred bytes whose IHDR claims width × height (a decompression bomb). */
function bombPng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 0, 0, 0, 0], 8); // 8-bit greyscale
  const idat = Buffer.from([0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01]); // zlib of one 0 byte
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr), pngChunk('IDAT', idat), pngChunk('IEND', new Uint8Array())]);
}
/** A JPEG whose frame header claims 65000 × 65000. */
function bombJpeg(): Buffer {
  return Buffer.from([0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 0x08, 0xfd, 0xe8, 0xfd, 0xe8, 0x03, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1, 0xff, 0xd9]);
}
function multipart(boundary: string, parts: { name: string; filename?: string; type?: string; data: Uint8Array | string }[]): Buffer {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disp = `form-data; name="${p.name}"${p.filename ? `; filename="${p.filename}"` : ''}`;
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disp}\r\n${p.type ? `Content-Type: ${p.type}\r\n` : ''}\r\n`), Buffer.from(p.data), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

// ---------------------------------------------------------------- transports

interface Answer {
  status: number;
  headers: Headers | Record<string, string>;
  body: Record<string, any>;
  closed?: boolean;
  elapsedMs?: number;
}

async function post(path: string, headers: Record<string, string>, body?: Uint8Array | string): Promise<Answer> {
  const res = await fetch(`${agent.url}${path}`, { method: 'POST', headers, body: typeof body === 'string' || body === undefined ? body : new Uint8Array(body) });
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, any> };
}

/**
 * Raw TCP: write `head`, then `drip` one byte of `dripWith` every `dripEveryMs` until the server
 * answers or closes. Resolves with the parsed answer and whether the server closed the socket.
 */
function raw(head: string, opts: { drip?: string; dripEveryMs?: number } = {}): Promise<Answer> {
  const { port } = agent;
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const sock = connect(port, '127.0.0.1');
    let got = '';
    let timer: NodeJS.Timeout | undefined;
    sock.on('connect', () => {
      sock.write(head);
      if (opts.drip) {
        let i = 0;
        timer = setInterval(() => {
          if (!sock.destroyed && sock.writable) sock.write(opts.drip![i++ % opts.drip!.length]);
        }, opts.dripEveryMs ?? 100);
      }
    });
    sock.on('data', (d) => (got += String(d)));
    sock.on('error', () => {}); // a reset after the answer is fine; the answer is what is checked
    sock.on('close', () => {
      clearInterval(timer);
      const [headText, ...rest] = got.split('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(headText)?.[1]);
      if (!status) return reject(new Error(`no HTTP answer before close: ${JSON.stringify(got.slice(0, 200))}`));
      const headers = Object.fromEntries(
        headText
          .split('\r\n')
          .slice(1)
          .map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
      );
      let body: Record<string, any>;
      try {
        body = JSON.parse(rest.join('\r\n\r\n')) as Record<string, any>;
      } catch {
        return reject(new Error(`answer ${status} has no JSON body: ${JSON.stringify(got.slice(0, 200))}`));
      }
      resolve({ status, headers, body, closed: true, elapsedMs: performance.now() - t0 });
    });
    setTimeout(() => sock.destroy(), 20_000).unref(); // a hung server fails the test, not the suite
  });
}

/** A request to the local FC signed with its AccessKey secret, as @alicloud/fc2 signs it. */
async function invokeLocalFc(body: Uint8Array, sign = true): Promise<Answer> {
  const fc = agent.fc!.localFc;
  const path = `/2023-03-30/functions/${agent.tiers[0].functionName}/invocations`;
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream', date: new Date().toUTCString(), 'x-fc-invocation-type': 'Sync' };
  if (sign) headers.authorization = `FC ${fc.accessKeyId}:${signFc(composeStringToSign('POST', path, headers), LOCAL_FC_DEFAULT_ACCESS_KEY_SECRET)}`;
  const res = await fetch(`${fc.url}${path}`, { method: 'POST', headers, body: new Uint8Array(body) });
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, any> };
}

/** A frame prefix: magic, header length, header bytes. */
function framePrefix(magic: string, headerLength: number, header: string): Buffer {
  const p = Buffer.alloc(8);
  p.write(magic, 0, 'ascii');
  p.writeUInt32BE(headerLength, 4);
  return Buffer.concat([p, Buffer.from(header)]);
}

// ---------------------------------------------------------------- the table

const IMG = { 'content-type': 'image/png', 'x-deadline-ms': '8000' };
const JSON_CT = { 'content-type': 'application/json', 'x-deadline-ms': '8000' };
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

interface Case {
  readonly name: string;
  readonly send: () => Promise<Answer>;
  readonly status: number;
  readonly code: string;
  /** The message must mention this. */
  readonly says?: RegExp;
}

const agentCases: Case[] = [
  { name: 'random bytes as image/png', send: () => post('/v1/infer', IMG, randomBytes(4096)), status: 400, code: 'bad_image', says: /not a PNG, JPEG or WebP/ },
  { name: 'random bytes as application/octet-stream', send: () => post('/v1/infer', { 'content-type': 'application/octet-stream' }, randomBytes(512)), status: 400, code: 'bad_image', says: /unrecognised header/ },
  { name: 'PNG cut inside its IHDR', send: () => post('/v1/infer', IMG, png.subarray(0, 20)), status: 400, code: 'bad_image', says: /truncated or corrupt image\/png/ },
  { name: 'PNG cut in half (pixel data missing)', send: () => post('/v1/infer', IMG, png.subarray(0, png.length >> 1)), status: 422, code: 'undecodable_image', says: /could not read/ },
  { name: 'JPEG cut before its frame header', send: () => post('/v1/infer', { ...IMG, 'content-type': 'image/jpeg' }, jpeg.subarray(0, 12)), status: 400, code: 'bad_image', says: /truncated or corrupt image\/jpeg/ },
  { name: 'JPEG cut in half', send: () => post('/v1/infer', { ...IMG, 'content-type': 'image/jpeg' }, jpeg.subarray(0, jpeg.length >> 1)), status: 422, code: 'undecodable_image', says: /could not read/ },
  { name: '0-byte body', send: () => post('/v1/infer', IMG, new Uint8Array()), status: 400, code: 'empty_image', says: /empty/ },
  { name: 'text/plain body', send: () => post('/v1/infer', { 'content-type': 'text/plain' }, 'hello'), status: 415, code: 'unsupported_media_type', says: /text\/plain/ },
  { name: 'no Content-Type', send: () => post('/v1/infer', {}, png), status: 415, code: 'unsupported_media_type', says: /missing Content-Type/ },
  { name: 'image/gif', send: () => post('/v1/infer', { 'content-type': 'image/gif' }, 'GIF89a'), status: 415, code: 'unsupported_media_type', says: /image\/gif/ },
  { name: 'PNG bytes declared image/jpeg', send: () => post('/v1/infer', { ...IMG, 'content-type': 'image/jpeg' }, png), status: 400, code: 'bad_image', says: /declared image\/jpeg/ },
  { name: 'PNG bomb: 30000×30000 in a tiny file', send: () => post('/v1/infer', IMG, bombPng(30000, 30000)), status: 422, code: 'pixel_limit', says: /30000×30000/ },
  { name: 'JPEG bomb: 65000×65000', send: () => post('/v1/infer', { ...IMG, 'content-type': 'image/jpeg' }, bombJpeg()), status: 422, code: 'pixel_limit', says: /65000×65000/ },
  { name: 'PNG bomb as JSON base64 in a batch', send: () => post('/v1/infer/batch', JSON_CT, JSON.stringify({ images: [b64(bombPng(1, 100_000_000))] })), status: 422, code: 'pixel_limit', says: /images\[0\]/ },
  { name: 'PNG claiming 0×0', send: () => post('/v1/infer', IMG, bombPng(0, 0)), status: 400, code: 'bad_image', says: /no pixels/ },
  { name: 'body over maxBodyBytes (Content-Length)', send: () => post('/v1/infer', IMG, new Uint8Array(300 * 1024)), status: 413, code: 'payload_too_large', says: /262144 bytes/ },
  { name: 'invalid base64', send: () => post('/v1/infer', JSON_CT, JSON.stringify({ image: 'iVBOR%%%not*base64' })), status: 400, code: 'bad_base64', says: /`image` is not valid base64/ },
  { name: 'base64 of text, not an image', send: () => post('/v1/infer', JSON_CT, JSON.stringify({ image: b64(Buffer.from('just some text')) })), status: 400, code: 'bad_image' },
  { name: 'JSON with a number for image', send: () => post('/v1/infer', JSON_CT, JSON.stringify({ image: 12 })), status: 400, code: 'bad_request', says: /base64 string/ },
  { name: 'JSON array body', send: () => post('/v1/infer', JSON_CT, '[1,2]'), status: 400, code: 'bad_request', says: /JSON object/ },
  { name: 'malformed JSON', send: () => post('/v1/infer', JSON_CT, '{"image": "abc'), status: 400, code: 'bad_json' },
  { name: 'JSON missing the image field', send: () => post('/v1/infer', JSON_CT, '{"picture": "x"}'), status: 400, code: 'missing_image', says: /`image`/ },
  { name: 'batch with an empty images array', send: () => post('/v1/infer/batch', JSON_CT, '{"images": []}'), status: 400, code: 'missing_image', says: /empty/ },
  { name: 'malformed multipart (garbage after the boundary)', send: () => post('/v1/infer', { 'content-type': 'multipart/form-data; boundary=XyZ' }, '--XyZ\r\nthis is not a part header\r\n\r\n'), status: 400, code: 'bad_multipart' },
  { name: 'multipart without a boundary', send: () => post('/v1/infer', { 'content-type': 'multipart/form-data' }, 'anything'), status: 400, code: 'bad_multipart' },
  { name: 'multipart missing the image field', send: () => post('/v1/infer', { 'content-type': 'multipart/form-data; boundary=b0' }, multipart('b0', [{ name: 'file', filename: 'x.png', type: 'image/png', data: png }])), status: 400, code: 'missing_image', says: /`image` field/ },
  { name: 'multipart with two images to /v1/infer', send: () => post('/v1/infer', { 'content-type': 'multipart/form-data; boundary=b1' }, multipart('b1', [{ name: 'image', filename: 'a.png', type: 'image/png', data: png }, { name: 'image', filename: 'b.png', type: 'image/png', data: png }])), status: 400, code: 'too_many_images', says: /batch/ },
  { name: 'negative deadline', send: () => post('/v1/infer', { ...IMG, 'x-deadline-ms': '-5' }, png), status: 400, code: 'bad_deadline', says: /`-5`/ },
  { name: 'NaN deadline', send: () => post('/v1/infer', { ...IMG, 'x-deadline-ms': 'NaN' }, png), status: 400, code: 'bad_deadline', says: /X-Deadline-Ms/ },
  { name: 'non-numeric deadline', send: () => post('/v1/infer', { ...IMG, 'x-deadline-ms': 'soon' }, png), status: 400, code: 'bad_deadline', says: /`soon`/ },
  { name: 'absurdly large deadline', send: () => post('/v1/infer', { ...IMG, 'x-deadline-ms': '99999999999999999999999' }, png), status: 400, code: 'bad_deadline', says: /maxDeadlineMs/ },
  { name: 'deadline 1e400 (Infinity)', send: () => post('/v1/infer?deadline_ms=1e400', { 'content-type': 'image/png' }, png), status: 400, code: 'bad_deadline', says: /deadline_ms query/ },
  { name: 'unknown model (?model=)', send: () => post('/v1/infer?model=resnet50', IMG, png), status: 400, code: 'unknown_model', says: /"resnet50".*"ocr-rec"/ },
  { name: 'unknown model on the batch route', send: () => post('/v1/infer/batch?model=', JSON_CT, JSON.stringify({ images: [b64(png)] })), status: 400, code: 'unknown_model', says: /ocr-rec/ },
  { name: 'unknown route', send: () => post('/v1/inference', IMG, png), status: 404, code: 'not_found', says: /\/v1\/inference/ },
  {
    name: 'oversized headers (over maxHeaderBytes)',
    send: () => raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Junk: ${'a'.repeat(16 * 1024)}\r\n\r\n`),
    status: 431,
    code: 'headers_too_large',
    says: /8192 bytes/,
  },
  { name: 'garbage instead of a request line', send: () => raw('HELLO THERE\r\n\r\n'), status: 400, code: 'bad_http' },
  {
    name: 'slow headers (slowloris)',
    send: () => raw('POST /v1/infer HTTP/1.1\r\nHost: x\r\n', { drip: 'X-Slow: y\r\n', dripEveryMs: 150 }),
    status: 408,
    code: 'request_timeout',
  },
  {
    name: 'slow body (slowloris)',
    send: () => raw(`POST /v1/infer HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n${'\x89PNG'}`, { drip: 'z', dripEveryMs: 100 }),
    status: 408,
    code: 'request_timeout',
  },
];

const frameCases: Case[] = [
  { name: 'frame: bad magic', send: () => invokeLocalFc(framePrefix('NOPE', 2, '{}')), status: 200, code: 'bad_magic', says: /SEB1/ },
  { name: 'frame: shorter than its prefix', send: () => invokeLocalFc(Buffer.from('SEB')), status: 200, code: 'frame_too_short' },
  { name: 'frame: header length past the end', send: () => invokeLocalFc(framePrefix('SEB1', 5000, '{"items":[]}')), status: 200, code: 'header_length_out_of_range', says: /5000/ },
  {
    name: 'frame: item byte counts do not add up',
    send: () => {
      const h = JSON.stringify({ items: [{ id: 'a', type: 'image/png', bytes: 999 }] });
      return invokeLocalFc(Buffer.concat([framePrefix('SEB1', Buffer.byteLength(h), h), png]));
    },
    status: 200,
    code: 'byte_count_mismatch',
    says: /999/,
  },
  { name: 'frame: header is not JSON', send: () => invokeLocalFc(framePrefix('SEB1', 9, '{"items":')), status: 200, code: 'header_not_json' },
  { name: 'frame: header JSON of the wrong shape', send: () => invokeLocalFc(framePrefix('SEB1', 13, '{"items":"x"}')), status: 200, code: 'header_invalid', says: /items/ },
];

describe('bad input to the agent', () => {
  it(`each of ${agentCases.length} bad requests gets its 4xx and a JSON error naming the problem`, async () => {
    expect(agentCases.length).toBeGreaterThanOrEqual(25);
    // Slow clients run concurrently with the rest: the server must keep serving while they stall.
    const answers = await Promise.all(agentCases.map(async (c) => ({ c, a: await c.send() })));
    for (const { c, a } of answers) {
      const what = `${c.name}: ${JSON.stringify(a.body)}`;
      expect([a.status, a.body.error?.code], what).toEqual([c.status, c.code]);
      errorBodySchema.strict().parse(a.body);
      expect(a.body.error.message.length, what).toBeGreaterThan(5);
      if (c.says) expect(a.body.error.message, what).toMatch(c.says);
    }
  });

  it('a slow body is cut after requestTimeoutMs with 408 and the connection closed', async () => {
    const a = await raw('POST /v1/infer HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 5000\r\n\r\n\x89PNG', { drip: 'q', dripEveryMs: 50 });
    expect([a.status, a.body.error.code]).toEqual([408, 'request_timeout']);
    expect((a.headers as Record<string, string>).connection).toBe('close');
    expect(a.closed).toBe(true);
    // Cut by the timeout (not at once, not never): generous bounds around 1.5 s.
    expect(a.elapsedMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 100);
    expect(a.elapsedMs).toBeLessThan(REQUEST_TIMEOUT_MS + 8000);
  });

  it('valid PNG, JPEG and WebP uploads pass the header checks and are read correctly', async () => {
    const answers = await Promise.all(
      ([['image/png', png], ['image/jpeg', jpeg], ['image/webp', webp]] as const).map(([type, bytes]) => post('/v1/infer', { 'content-type': type, 'x-deadline-ms': '20000' }, bytes)),
    );
    for (const a of answers) expect([a.status, a.body.text], JSON.stringify(a.body)).toEqual([200, TEXT]);
    const named = await post('/v1/infer?model=ocr-rec', IMG, png);
    expect([named.status, named.body.text]).toEqual([200, TEXT]);
  });
});

describe('bad frames to the local FC (signed requests)', () => {
  it('each malformed frame is refused by the function with a JSON error naming the frame problem', async () => {
    // Function Compute passes any body to the function; the function rejects a bad frame, and FC
    // reports that as a 200 with x-fc-error-type HandledInvocationError and the function's JSON.
    for (const c of frameCases) {
      const a = await c.send();
      const what = `${c.name}: ${JSON.stringify(a.body)}`;
      expect(a.status, what).toBe(200);
      expect((a.headers as Headers).get('x-fc-error-type'), what).toBe('HandledInvocationError');
      const inner = JSON.parse(a.body.errorMessage as string) as Record<string, any>;
      errorBodySchema.strict().parse(inner);
      expect(inner.error.code, what).toBe(c.code);
      if (c.says) expect(inner.error.message, what).toMatch(c.says);
    }
  });

  it('an unsigned frame is refused by the FC layer with 403 before any function runs', async () => {
    const unsigned = await invokeLocalFc(encodeBatch([{ id: 'a', type: 'image/png', bytes: png }]), false);
    expect([unsigned.status, unsigned.body.ErrorCode]).toEqual([403, 'MissingRequiredHeader']);
    expect(unsigned.body.ErrorMessage).toMatch(/authorization/);
  });
});

describe('after all of it', () => {
  it('the agent is healthy and still reads a normal request right', async () => {
    expect((await fetch(`${agent.url}/healthz`)).status).toBe(200);
    const a = await post('/v1/infer', IMG, png);
    expect([a.status, a.body.text]).toEqual([200, TEXT]);
    const form = new FormData();
    form.append('image', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'line.png');
    const res = await fetch(`${agent.url}/v1/infer/batch`, { method: 'POST', headers: { 'x-deadline-ms': '8000' }, body: form });
    const body = (await res.json()) as Record<string, any>;
    expect([res.status, body.results?.[0]?.text]).toEqual([200, TEXT]);
  });
});
