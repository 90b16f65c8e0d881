/**
 * The Open Inference Protocol (KServe v2 REST) end to end: a real agent on loopback (real ONNX
 * inference, the local FC), driven by a client written from the protocol's documents
 * (test/helpers/oip-client.ts), with rendered text-line images.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../edge-agent/config.ts';
import { startAgent, type RunningAgent } from '../edge-agent/service/agent.ts';
import { embeddedLocalFc, type EmbeddedLocalFc } from '../edge-agent/dev/embedded-local-fc.ts';
import { createApp } from '../edge-agent/service/app.ts';
import { oipErrorSchema, oipInferResponseSchema, oipModelConfigSchema, oipModelMetadataSchema, oipServerMetadataSchema } from '../edge-agent/service/oip-schemas.ts';
import { binaryBody, binaryImageRequest, bytesTensor, jsonImageRequest, output, readResponse, type OipRequest } from './helpers/oip-client.ts';
import { renderTextLine } from '../shared/text-line-images.ts';

const LINES = ['EDGE2026', 'AB12-cd', 'Hello42'];
const MODEL = 'ocr-rec';
let agent: RunningAgent<EmbeddedLocalFc>;
let pngs: Uint8Array<ArrayBuffer>[];
let infer: string;

beforeAll(async () => {
  agent = await startAgent(parseConfig({ port: 0, backends: ['edge', 'fc'], edgeWorkers: 1, logLevel: 'silent', maxBodyBytes: 512 * 1024, maxBatch: 8 }), { fc: embeddedLocalFc() });
  pngs = await Promise.all(LINES.map(async (l) => new Uint8Array(await renderTextLine(l))));
  infer = `${agent.url}/v2/models/${MODEL}/infer`;
});

afterAll(async () => {
  await agent?.shutdown(2000);
});

const TIMEOUT_8S = { timeout: 8_000_000 }; // µs

function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

async function v2Requests(): Promise<number> {
  const text = await (await fetch(`${agent.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('agent_requests_total{route="/v2/infer"'))
    .reduce((s, l) => s + Number(l.split(' ').pop()), 0);
}

describe('Open Inference Protocol: health and metadata', () => {
  it('GET /v2 names the server and lists only the implemented extensions', async () => {
    const res = await fetch(`${agent.url}/v2`);
    expect(res.status).toBe(200);
    const body = oipServerMetadataSchema.strict().parse(await res.json());
    expect(body.name).toBe('serverless-edge-batching');
    expect(body.extensions.sort()).toEqual(['binary_tensor_data', 'model_configuration', 'schedule_policy']);
  });

  it('GET /v2/health/live, /v2/health/ready and the model\'s /ready answer 200; an unknown model\'s 404', async () => {
    for (const path of ['/v2/health/live', '/v2/health/ready', `/v2/models/${MODEL}/ready`, `/v2/models/${MODEL}/versions/1/ready`]) {
      expect((await fetch(`${agent.url}${path}`)).status, path).toBe(200);
    }
    const res = await fetch(`${agent.url}/v2/models/resnet/ready`);
    expect(res.status).toBe(404);
    expect(oipErrorSchema.strict().parse(await res.json()).error).toMatch(/"resnet" is not served.*"ocr-rec"/);
  });

  it('GET /v2/models/{model} gives platform, a BYTES input and BYTES/FP32 outputs with -1 for the variable batch', async () => {
    const body = oipModelMetadataSchema.strict().parse(await (await fetch(`${agent.url}/v2/models/${MODEL}`)).json());
    expect(body).toMatchObject({ name: MODEL, platform: 'onnxruntime_onnx', versions: ['1'] });
    expect(body.inputs).toEqual([{ name: 'image', datatype: 'BYTES', shape: [-1] }]);
    expect(body.outputs).toEqual([
      { name: 'text', datatype: 'BYTES', shape: [-1] },
      { name: 'confidence', datatype: 'FP32', shape: [-1] },
    ]);
    expect((await fetch(`${agent.url}/v2/models/${MODEL}/versions/1`)).status).toBe(200);
    expect((await fetch(`${agent.url}/v2/models/${MODEL}/versions/2`)).status).toBe(404);
  });

  it('GET /v2/models/{model}/config has max_batch_size (the agent\'s --max-batch) and dynamic_batching with the default deadline', async () => {
    const body = oipModelConfigSchema.strict().parse(await (await fetch(`${agent.url}/v2/models/${MODEL}/config`)).json());
    expect(body.max_batch_size).toBe(8);
    expect(body.dynamic_batching.default_queue_policy.default_timeout_microseconds).toBe(agent.config.defaultDeadlineMs * 1000);
    expect(body.dynamic_batching.default_queue_policy.allow_timeout_override).toBe(true);
    expect(body.input.map((i) => [i.name, i.data_type])).toEqual([['image', 'TYPE_STRING']]);
  });
});

describe('Open Inference Protocol: infer', () => {
  it('a JSON request of n base64 images answers text and confidence in request order, echoing the id', async () => {
    const order = [2, 0, 1, 2];
    const res = await postJson(infer, jsonImageRequest(order.map((i) => pngs[i]), { id: 'req-42', parameters: TIMEOUT_8S }));
    const { status, body } = await readResponse(res);
    expect(status, JSON.stringify(body)).toBe(200);
    oipInferResponseSchema.strict().parse(body);
    expect(body).toMatchObject({ model_name: MODEL, model_version: '1', id: 'req-42' });
    expect(output(body, 'text')).toEqual(order.map((i) => LINES[i]));
    const conf = output(body, 'confidence') as number[];
    expect(conf).toHaveLength(order.length);
    for (const c of conf) expect(c).toBeGreaterThan(0.5);
    expect(body.outputs.map((o: { name: string; shape: number[]; datatype: string }) => [o.name, o.datatype, o.shape])).toEqual([
      ['text', 'BYTES', [4]],
      ['confidence', 'FP32', [4]],
    ]);
    expect(body.parameters.deadline_met).toBe(true);
    expect(body.parameters.routes.split(',')).toHaveLength(order.length);
  });

  it('gives the same answers as /v1/infer for the same images', async () => {
    // One image per request, one request at a time, on both APIs: each runs as a batch of one, so
    // the model sees the same tensor (in a batch, mates pad each other to a common width and a
    // confidence moves by a few hundredths).
    for (const [i, png] of pngs.entries()) {
      const v1 = (await (await fetch(`${agent.url}/v1/infer`, { method: 'POST', headers: { 'content-type': 'image/png', 'x-deadline-ms': '8000' }, body: png })).json()) as { text: string; confidence: number; route: { batchSize: number } };
      const v2 = await readResponse(await postJson(infer, jsonImageRequest([png], { parameters: TIMEOUT_8S })));
      expect(v2.status).toBe(200);
      expect([output(v2.body, 'text')[0], v1.text]).toEqual([LINES[i], LINES[i]]);
      expect(v1.route.batchSize).toBe(1);
      expect(output(v2.body, 'confidence')[0] as number).toBeCloseTo(v1.confidence, 3);
    }
    // And n images in one request read as n requests to /v1 do.
    const { body } = await readResponse(await postJson(infer, jsonImageRequest(pngs, { parameters: TIMEOUT_8S })));
    expect(output(body, 'text')).toEqual(LINES);
  });

  it('the binary tensor data extension: binary input in, binary outputs out (binary_data_output)', async () => {
    const { body, headers } = binaryImageRequest(pngs, { id: 'bin-1', parameters: { ...TIMEOUT_8S, binary_data_output: true } });
    const res = await fetch(infer, { method: 'POST', headers, body });
    expect(res.headers.get('inference-header-content-length')).toMatch(/^\d+$/);
    const r = await readResponse(res);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.binaryOutputs).toEqual(['text', 'confidence']);
    expect(r.body.id).toBe('bin-1');
    expect(output(r.body, 'text')).toEqual(LINES);
    for (const c of output(r.body, 'confidence') as number[]) expect(c).toBeGreaterThan(0.5);
  });

  it('per-output binary_data, an [n, 1] shape (as perf_analyzer sends for dims [1]) and a versioned path', async () => {
    const { body, headers } = binaryImageRequest(pngs.slice(0, 2), { parameters: TIMEOUT_8S, outputs: [{ name: 'confidence', parameters: { binary_data: true } }, { name: 'text' }] }, [2, 1]);
    const r = await readResponse(await fetch(`${agent.url}/v2/models/${MODEL}/versions/1/infer`, { method: 'POST', headers, body }));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.outputs.map((o: { name: string }) => o.name)).toEqual(['confidence', 'text']);
    expect(r.binaryOutputs).toEqual(['confidence']);
    expect(r.body.outputs[1].data).toEqual(LINES.slice(0, 2)); // text stayed JSON
    expect(r.body.outputs[0].shape).toEqual([2, 1]);
  });

  it('parameters.timeout (µs) is the deadline: 1000 µs is refused at once with 504 naming the element; 0 means the default', async () => {
    const tight = await readResponse(await postJson(infer, jsonImageRequest([pngs[0]], { parameters: { timeout: 1000 } })));
    expect(tight.status).toBe(504);
    expect(oipErrorSchema.strict().parse(tight.body).error).toMatch(/element 0 of 1 failed \(deadline.*1 ms/);
    const dflt = await readResponse(await postJson(infer, jsonImageRequest([pngs[1]], { parameters: { timeout: 0, priority: 1 } })));
    expect([dflt.status, output(dflt.body, 'text')]).toEqual([200, [LINES[1]]]);
  });

  it('a batch with a broken element is refused whole with 400 naming its index, and nothing is queued', async () => {
    const before = await v2Requests();
    const images = [pngs[0], new TextEncoder().encode('not an image at all'), pngs[1]];
    for (const send of [() => postJson(infer, jsonImageRequest(images, { parameters: TIMEOUT_8S })), () => { const b = binaryImageRequest(images, { parameters: TIMEOUT_8S }); return fetch(infer, { method: 'POST', headers: b.headers, body: b.body }); }]) {
      const r = await readResponse(await send());
      expect(r.status).toBe(400);
      expect(oipErrorSchema.strict().parse(r.body).error).toMatch(/image\[1\].*not a PNG, JPEG or WebP/);
    }
    expect(await v2Requests()).toBe(before);
  });

  it('an element the model cannot decode (a truncated PNG) fails the request with 422 naming its index', async () => {
    const truncated = pngs[0].slice(0, pngs[0].length - 40);
    const r = await readResponse(await postJson(infer, jsonImageRequest([pngs[1], pngs[2], truncated], { parameters: TIMEOUT_8S })));
    expect(r.status).toBe(422);
    expect(oipErrorSchema.strict().parse(r.body).error).toMatch(/element 2 of 3 failed \(undecodable_image\)/);
    // The agent is fine and the good images still read.
    const ok = await readResponse(await postJson(infer, jsonImageRequest([pngs[2]], { parameters: TIMEOUT_8S })));
    expect(output(ok.body, 'text')).toEqual([LINES[2]]);
  });

  it('every malformed request gets its 4xx and {"error": "..."} naming the problem', async () => {
    const b64 = Buffer.from(pngs[0]).toString('base64');
    const input = (over: object) => ({ inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [b64], ...over }] });
    const tensor = bytesTensor([pngs[0]]);
    const withHeader = (json: string, binary: Uint8Array, len = String(new TextEncoder().encode(json).length)) => {
      const head = new TextEncoder().encode(json);
      const body = new Uint8Array(head.length + binary.length);
      body.set(head);
      body.set(binary, head.length);
      return { body, headers: { 'inference-header-content-length': len } };
    };
    const binReq = (size: number, extra: Uint8Array = new Uint8Array(0)) => {
      const json = JSON.stringify({ inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: size } }] });
      const all = new Uint8Array(tensor.length + extra.length);
      all.set(tensor);
      all.set(extra, tensor.length);
      return withHeader(json, all);
    };
    const cases: [string, { body: string | Uint8Array<ArrayBuffer>; headers?: Record<string, string>; url?: string }, number, RegExp][] = [
      ['not JSON', { body: '{"inputs": [' }, 400, /body is not valid JSON/],
      ['no inputs', { body: '{}' }, 400, /`inputs`/],
      ['inputs not an array', { body: '{"inputs": "image"}' }, 400, /`inputs`/],
      ['wrong input name', { body: JSON.stringify({ inputs: [{ name: 'pixels', shape: [1], datatype: 'BYTES', data: [b64] }] }) }, 400, /exactly one input, "image".*"pixels"/],
      ['two inputs', { body: JSON.stringify({ inputs: [input({}).inputs[0], input({}).inputs[0]] }) }, 400, /exactly one input/],
      ['FP32 datatype', { body: JSON.stringify(input({ datatype: 'FP32' })) }, 400, /datatype BYTES.*"FP32"/],
      ['shape [1, 3]', { body: JSON.stringify(input({ shape: [1, 3] })) }, 400, /shape \[n\] or \[n, 1\].*\[1,3\]/],
      ['shape [0]', { body: JSON.stringify(input({ shape: [0], data: [] })) }, 400, /no images/],
      ['over max_batch_size', { body: JSON.stringify(input({ shape: [9], data: Array(9).fill(b64) })) }, 400, /9 images; at most 8.*max_batch_size/],
      ['shape and data disagree', { body: JSON.stringify(input({ shape: [2] })) }, 400, /\(2 elements\) but its data holds 1/],
      ['data not an array', { body: JSON.stringify(input({ data: b64 })) }, 400, /`inputs\[0\]\.data` to be an array/],
      ['bad base64', { body: JSON.stringify(input({ data: ['***'] })) }, 400, /`image\[0\]` is not valid base64/],
      ['no data, no binary', { body: JSON.stringify(input({ data: undefined })) }, 400, /neither `data`.*binary_data_size/],
      ['data and binary', { ...withHeader(JSON.stringify(input({ parameters: { binary_data_size: tensor.length } })), tensor) }, 400, /both `data` and `binary_data_size`/],
      ['timeout negative', { body: JSON.stringify({ ...input({}), parameters: { timeout: -5 } }) }, 400, /`parameters\.timeout`.*whole number ≥ 0 \(µs\).*-5/],
      ['timeout a string', { body: JSON.stringify({ ...input({}), parameters: { timeout: 'soon' } }) }, 400, /`parameters\.timeout`.*"soon"/],
      ['timeout over maxDeadlineMs', { body: JSON.stringify({ ...input({}), parameters: { timeout: 3_600_000_000 } }) }, 400, /≤ 60000000 µs/],
      ['priority negative', { body: JSON.stringify({ ...input({}), parameters: { priority: -1 } }) }, 400, /`parameters\.priority`/],
      ['unknown output', { body: JSON.stringify({ ...input({}), outputs: [{ name: 'labels' }] }) }, 400, /output "labels".*does not exist.*"text" and "confidence"/],
      ['output twice', { body: JSON.stringify({ ...input({}), outputs: [{ name: 'text' }, { name: 'text' }] }) }, 400, /"text" is requested twice/],
      ['binary_data not boolean', { body: JSON.stringify({ ...input({}), outputs: [{ name: 'text', parameters: { binary_data: 'yes' } }] }) }, 400, /binary_data` to be true or false/],
      ['classification', { body: JSON.stringify({ ...input({}), outputs: [{ name: 'text', parameters: { classification: 3 } }] }) }, 400, /classification extension is not implemented/],
      ['header length not a number', { ...withHeader(JSON.stringify(input({})), new Uint8Array(0), 'ten') }, 400, /Inference-Header-Content-Length.*whole number.*`ten`/],
      ['header length past the body', { ...withHeader(JSON.stringify(input({})), new Uint8Array(0), '99999') }, 400, /says the JSON part is 99999 bytes but the body has only/],
      ['binary size past the data', binReq(tensor.length + 10), 400, /binary_data_size \d+ but only \d+ bytes/],
      ['bytes after the last tensor', binReq(tensor.length, new Uint8Array(7)), 400, /7 bytes of binary data follow the last tensor/],
      ['BYTES element cut short', binReq(tensor.length - 5), 400, /element 0 declares \d+ bytes but only \d+ are left/],
      ['unknown model', { body: JSON.stringify(input({})), url: `${agent.url}/v2/models/yolo/infer` }, 404, /"yolo" is not served here/],
      ['unknown version', { body: JSON.stringify(input({})), url: `${agent.url}/v2/models/${MODEL}/versions/7/infer` }, 404, /no version "7"/],
      ['body over maxBodyBytes', { body: new Uint8Array(600 * 1024).fill(32) }, 413, /exceeds 524288 bytes/],
    ];
    for (const [what, req, status, message] of cases) {
      const res = await fetch(req.url ?? infer, { method: 'POST', headers: { 'content-type': 'application/json', ...req.headers }, body: req.body });
      const body = await res.json();
      expect([what, res.status], JSON.stringify(body)).toEqual([what, status]);
      expect(() => oipErrorSchema.strict().parse(body), what).not.toThrow();
      expect((body as { error: string }).error, what).toMatch(message);
    }
    // A route the protocol does not have is a 404 in the protocol's shape too.
    const nf = await fetch(`${agent.url}/v2/repository/index`, { method: 'POST' });
    expect(nf.status).toBe(404);
    oipErrorSchema.strict().parse(await nf.json());
    expect((await fetch(`${agent.url}/v2/health/live`)).status).toBe(200);
  });

  it('with a token, /v2/models/* needs it (401 in the protocol\'s shape); health and server metadata stay open', async () => {
    const app = createApp(agent.runtime, { token: 'sekret', model: MODEL, dashboard: false });
    const denied = await app.request(`/v2/models/${MODEL}/infer`, { method: 'POST', body: '{}' });
    expect(denied.status).toBe(401);
    expect(oipErrorSchema.strict().parse(await denied.json()).error).toMatch(/Authorization: Bearer/);
    expect((await app.request(`/v2/models/${MODEL}`)).status).toBe(401);
    expect((await app.request(`/v2/models/${MODEL}`, { headers: { authorization: 'Bearer sekret' } })).status).toBe(200);
    for (const open of ['/v2', '/v2/health/live', '/v2/health/ready']) expect((await app.request(open)).status, open).toBe(200);
  });

  it('a binary request built by hand from the documents (two tensors\' worth of framing) reads like the JSON one', async () => {
    // Build the BYTES tensor byte by byte: little-endian u32 length, then the PNG.
    const manual = new Uint8Array(4 + pngs[2].length);
    new DataView(manual.buffer).setUint32(0, pngs[2].length, true);
    manual.set(pngs[2], 4);
    const req: OipRequest = { parameters: TIMEOUT_8S, inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: manual.length } }] };
    const { body, headers } = binaryBody(req, [manual]);
    const r = await readResponse(await fetch(infer, { method: 'POST', headers, body }));
    expect(output(r.body, 'text')).toEqual([LINES[2]]);
  });

  it('/openapi.json describes every /v2 route', async () => {
    const doc = (await (await fetch(`${agent.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    for (const p of ['/v2', '/v2/health/live', '/v2/health/ready', '/v2/models/{model}', '/v2/models/{model}/ready', '/v2/models/{model}/config', '/v2/models/{model}/infer', '/v2/models/{model}/versions/{version}/infer', '/v1/history']) {
      expect(doc.paths[p], p).toBeDefined();
    }
    expect(doc.paths['/v2/models/{model}/infer'].post).toHaveProperty('requestBody');
  });
});
