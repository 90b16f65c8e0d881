/**
 * The Open Inference Protocol (KServe v2 REST), beside `/v1`: what Triton, KServe, Seldon
 * MLServer and OpenVINO Model Server speak, so existing clients, load generators
 * (perf_analyzer) and gateways work against the agent unchanged.
 *
 * Every image of a `/v2/.../infer` request is its own request to the same runtime, queue and
 * scheduler as `/v1/infer` (via `AgentRuntime.infer`), so the scheduler may batch it with anyone's.
 *
 * All or nothing: the protocol answers an inference request with outputs or with one error. A
 * request whose elements are not all valid images is refused with 400 (or 422 over the pixel
 * limit) naming the first broken element, before any element is queued; when an element fails
 * later (the model cannot decode it, its deadline cannot be met, load is shed), the request gets
 * that element's status and a message naming its index, once every element has settled.
 */
import { Hono, type Context } from 'hono';
import type { Logger } from 'pino';
import { HttpError, retryAfterSeconds } from './errors.ts';
import { checkImage, decodeBase64Image, type UploadedImage } from './image-input.ts';
import { describeIssues, oipInferRequestSchema } from './oip-schemas.ts';
import { BinaryCursor, decodeBytesElements, encodeBytesElements, encodeFp32, INFERENCE_HEADER, joinBody, splitBody } from './oip-tensor.ts';
import type { z } from 'zod';
import type { AgentRuntime, InferAnswer } from './runtime.ts';

/** Extensions of the protocol this server implements (listed in `GET /v2`). */
export const OIP_EXTENSIONS = ['binary_tensor_data', 'schedule_policy', 'model_configuration'] as const;
/** The one input tensor: encoded images (PNG, JPEG or WebP), one per element. */
export const OIP_INPUT = 'image';
/** Output tensors, in the order they are answered by default. */
export const OIP_OUTPUTS = { text: 'BYTES', confidence: 'FP32' } as const;
type OutputName = keyof typeof OIP_OUTPUTS;
/** The only model version: every target runs the same model. */
export const OIP_MODEL_VERSION = '1';
/** Label of /v2 requests in the agent's metrics (`agent_requests_total{route}`). */
const METRICS_ROUTE = '/v2/infer';

export interface OipRoutesOptions {
  /** Name of the served model (the `{model}` of every path). */
  readonly model: string;
  /** Budget when a request sends no `timeout` (or 0), ms. */
  readonly defaultDeadlineMs: number;
  /** Largest budget a `timeout` may ask for, ms. */
  readonly maxDeadlineMs: number;
  /** Most images in one request (`max_batch_size` of the model config). */
  readonly maxBatchSize: number;
  /**
   * Server version in `GET /v2`.
   * @default '0.1.0'
   */
  readonly serverVersion?: string;
}

/** The protocol's error body `{"error": "..."}` for any HttpError. */
export function oipErrorBody(e: HttpError): { error: string } {
  return { error: e.message };
}

/** Paths of the protocol (the app uses this to pick the error shape and the body limit). */
export function isOipPath(path: string): boolean {
  return path === '/v2' || path.startsWith('/v2/');
}

/** The protocol's paths that carry a request body (the app's body limit applies to them). */
export function isOipInferPath(path: string): boolean {
  return isOipPath(path) && path.endsWith('/infer');
}

/** What one infer request asks for, once validated. */
interface InferPlan {
  readonly id?: string;
  readonly budgetMs: number;
  readonly shape: number[];
  readonly images: UploadedImage[];
  /** Outputs to answer, in order, and whether each goes as binary data. */
  readonly outputs: { name: OutputName; binary: boolean }[];
}

type InferRequest = z.infer<typeof oipInferRequestSchema>;

function badRequest(code: string, message: string): HttpError {
  return new HttpError(400, code, message);
}

/** A non-negative whole number parameter, or undefined when absent. */
function wholeParameter(params: InferRequest['parameters'], name: string, unit: string): number | undefined {
  const v = params?.[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw badRequest('bad_parameter', `Expected \`parameters.${name}\` to be a whole number ≥ 0${unit}, got \`${JSON.stringify(v)?.slice(0, 40)}\``);
  return v;
}

function booleanParameter(params: Record<string, unknown> | undefined, where: string, name: string): boolean {
  const v = params?.[name];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw badRequest('bad_parameter', `Expected \`${where}.${name}\` to be true or false, got \`${JSON.stringify(v)?.slice(0, 40)}\``);
  return v;
}

/** Flatten `data` to its elements (the protocol allows flat or nested to the shape). */
function flatten(data: unknown, depth: number): unknown[] {
  if (!Array.isArray(data)) throw badRequest('bad_tensor', `Expected \`inputs[0].data\` to be an array of base64 strings, got ${data === null ? 'null' : typeof data}`);
  if (depth <= 1 || !data.some(Array.isArray)) return data;
  return data.flatMap((d) => (Array.isArray(d) ? flatten(d, depth - 1) : [d]));
}

/** Validate the JSON part and gather the images, without queueing anything. */
function readInferRequest(body: unknown, binary: Uint8Array, opts: OipRoutesOptions): InferPlan {
  const parsed = oipInferRequestSchema.safeParse(body);
  if (!parsed.success) throw badRequest('bad_request', `not an inference request: ${describeIssues(parsed.error)}`);
  const req = parsed.data;

  const timeoutUs = wholeParameter(req.parameters, 'timeout', ' (µs)');
  let budgetMs = opts.defaultDeadlineMs;
  if (timeoutUs !== undefined && timeoutUs > 0) {
    budgetMs = timeoutUs / 1000;
    if (budgetMs > opts.maxDeadlineMs) throw badRequest('bad_deadline', `Expected \`parameters.timeout\` to be ≤ ${opts.maxDeadlineMs * 1000} µs (maxDeadlineMs ${opts.maxDeadlineMs}), got \`${timeoutUs}\``);
  }
  // Accepted and checked; the queue is earliest-deadline-first, so a priority does not reorder it.
  wholeParameter(req.parameters, 'priority', '');
  const allBinary = booleanParameter(req.parameters, 'parameters', 'binary_data_output');

  if (req.inputs.length !== 1 || req.inputs[0].name !== OIP_INPUT) {
    const names = req.inputs.map((i) => JSON.stringify(i.name)).join(', ') || 'none';
    throw badRequest('bad_input', `this model takes exactly one input, "${OIP_INPUT}" (BYTES, one encoded image per element); got ${names}`);
  }
  const input = req.inputs[0];
  if (input.datatype !== 'BYTES') throw badRequest('bad_tensor', `input "${OIP_INPUT}" must have datatype BYTES (encoded PNG, JPEG or WebP images), got ${JSON.stringify(input.datatype)}`);
  const shape = input.shape;
  if (!(shape.length === 1 || (shape.length === 2 && shape[1] === 1))) throw badRequest('bad_tensor', `input "${OIP_INPUT}" must have shape [n] or [n, 1] (n images), got ${JSON.stringify(shape)}`);
  const n = shape[0];
  if (n < 1) throw badRequest('bad_tensor', `input "${OIP_INPUT}" has shape ${JSON.stringify(shape)}: no images`);
  if (n > opts.maxBatchSize) throw badRequest('bad_tensor', `input "${OIP_INPUT}" has ${n} images; at most ${opts.maxBatchSize} per request (max_batch_size)`);

  const cursor = new BinaryCursor(binary);
  const binarySize = input.parameters?.binary_data_size;
  let elements: Uint8Array[] | unknown[];
  if (binarySize !== undefined) {
    if (typeof binarySize !== 'number' || !Number.isSafeInteger(binarySize) || binarySize < 0) throw badRequest('bad_parameter', `Expected \`inputs[0].parameters.binary_data_size\` to be a whole number of bytes, got \`${JSON.stringify(binarySize)}\``);
    if (input.data !== undefined) throw badRequest('bad_tensor', `input "${OIP_INPUT}" has both \`data\` and \`binary_data_size\`; send one`);
    elements = decodeBytesElements(cursor.take(binarySize, `input "${OIP_INPUT}"`), `input "${OIP_INPUT}"`);
  } else {
    if (input.data === undefined) throw badRequest('bad_tensor', `input "${OIP_INPUT}" has neither \`data\` (base64 strings) nor \`parameters.binary_data_size\``);
    elements = flatten(input.data, shape.length);
  }
  cursor.finish();
  if (elements.length !== n) throw badRequest('bad_tensor', `input "${OIP_INPUT}" has shape ${JSON.stringify(shape)} (${n} elements) but its data holds ${elements.length}`);

  // Every element is checked before any is queued: a broken one refuses the whole request.
  const images = elements.map((e, i) => (e instanceof Uint8Array ? checkImage(`${OIP_INPUT}[${i}]`, undefined, e) : decodeBase64Image(`${OIP_INPUT}[${i}]`, e)));

  let outputs: InferPlan['outputs'];
  if (req.outputs === undefined) {
    outputs = (Object.keys(OIP_OUTPUTS) as OutputName[]).map((name) => ({ name, binary: allBinary }));
  } else {
    const seen = new Set<string>();
    outputs = req.outputs.map((o, i) => {
      if (!(o.name in OIP_OUTPUTS)) throw badRequest('bad_output', `output ${JSON.stringify(o.name)} (outputs[${i}]) does not exist; this model answers ${Object.keys(OIP_OUTPUTS).map((k) => `"${k}"`).join(' and ')}`);
      if (seen.has(o.name)) throw badRequest('bad_output', `output "${o.name}" is requested twice`);
      seen.add(o.name);
      if (o.parameters?.classification !== undefined) throw badRequest('bad_output', `outputs[${i}].parameters.classification: the classification extension is not implemented here`);
      return { name: o.name as OutputName, binary: allBinary || booleanParameter(o.parameters, `outputs[${i}].parameters`, 'binary_data') };
    });
  }
  return { ...(req.id !== undefined ? { id: req.id } : {}), budgetMs, shape, images, outputs };
}

/** The error of the first failed element, naming its index and how many others failed. */
function elementError(reasons: { index: number; reason: unknown }[], n: number): HttpError {
  const first = reasons[0];
  const e = first.reason instanceof HttpError ? first.reason : new HttpError(500, 'internal', String(first.reason));
  const others = reasons.length > 1 ? `; elements ${reasons.slice(1).map((r) => r.index).join(', ')} failed too` : '';
  return new HttpError(e.status, e.code, `input "${OIP_INPUT}" element ${first.index} of ${n} failed (${e.code}): ${e.message}${others}`, { cause: e, retryAfterMs: e.retryAfterMs });
}

/**
 * Routes of the protocol, to mount on the agent's app.
 * @example
 * app.route('/', oipRoutes(runtime, { model: 'ocr-rec', defaultDeadlineMs: 1000, maxDeadlineMs: 60000, maxBatchSize: 16 }));
 */
export function oipRoutes(runtime: AgentRuntime, opts: OipRoutesOptions): Hono {
  const log: Logger = runtime.logger;
  const app = new Hono();

  app.onError((err, c) => {
    const e = err instanceof HttpError ? err : new HttpError(500, 'internal', 'internal error', { cause: err });
    if (!(err instanceof HttpError)) log.error({ err, path: c.req.path }, 'unhandled error');
    if (e.status === 503) c.header('Retry-After', retryAfterSeconds(e.retryAfterMs));
    return c.json(oipErrorBody(e), e.status);
  });

  const modelOf = (c: Context): string => {
    const model = c.req.param('model') ?? '';
    if (model !== opts.model) throw new HttpError(404, 'unknown_model', `model ${JSON.stringify(model.slice(0, 64))} is not served here; this agent serves "${opts.model}"`);
    const version = c.req.param('version');
    if (version !== undefined && version !== OIP_MODEL_VERSION) throw new HttpError(404, 'unknown_version', `model "${opts.model}" has no version ${JSON.stringify(version.slice(0, 16))}; its only version is "${OIP_MODEL_VERSION}"`);
    return model;
  };

  app.get('/v2', (c) => c.json({ name: 'serverless-edge-batching', version: opts.serverVersion ?? '0.1.0', extensions: [...OIP_EXTENSIONS] }));
  app.get('/v2/health/live', (c) => c.json({ live: true }));
  const ready = (c: Context) => {
    if (runtime.ready) return c.json({ ready: true });
    c.header('Retry-After', '5');
    return c.json({ ready: false, error: runtime.isDraining ? 'the agent is shutting down' : 'backends are not up' }, 503);
  };
  app.get('/v2/health/ready', ready);

  // Every model path with and without `/versions/{version}`.
  const both = (suffix: string) => [`/v2/models/:model${suffix}`, `/v2/models/:model/versions/:version${suffix}`];

  for (const path of both('')) {
    app.get(path, (c) => {
      const name = modelOf(c);
      return c.json({
        name,
        versions: [OIP_MODEL_VERSION],
        platform: 'onnxruntime_onnx',
        inputs: [{ name: OIP_INPUT, datatype: 'BYTES', shape: [-1] }],
        outputs: Object.entries(OIP_OUTPUTS).map(([n, datatype]) => ({ name: n, datatype, shape: [-1] })),
      });
    });
  }
  for (const path of both('/ready')) {
    app.get(path, (c) => {
      modelOf(c);
      return ready(c);
    });
  }
  for (const path of both('/config')) {
    app.get(path, (c) => {
      const name = modelOf(c);
      // Triton's config shape: per-item dims without the batch dimension. An image is one BYTES
      // element; dims [1] with `reshape: []` lets perf_analyzer send [b, 1] while [b] is what
      // the metadata says (both are accepted).
      const tensor = (n: string, type: string) => ({ name: n, data_type: type === 'BYTES' ? 'TYPE_STRING' : `TYPE_${type}`, dims: [1], reshape: { shape: [] } });
      return c.json({
        name,
        platform: 'onnxruntime_onnx',
        backend: 'onnxruntime',
        max_batch_size: opts.maxBatchSize,
        input: [tensor(OIP_INPUT, 'BYTES')],
        output: Object.entries(OIP_OUTPUTS).map(([n, t]) => tensor(n, t)),
        // The scheduler batches across requests by deadline, not by a fixed delay: no static delay
        // is configured, and a request's `timeout` is its deadline (else the agent's default).
        dynamic_batching: {
          max_queue_delay_microseconds: 0,
          default_queue_policy: { timeout_action: 'REJECT', default_timeout_microseconds: Math.round(opts.defaultDeadlineMs * 1000), allow_timeout_override: true, max_queue_size: 0 },
        },
      });
    });
  }

  for (const path of both('/infer')) {
    app.post(path, async (c) => {
      const name = modelOf(c);
      let raw: Uint8Array;
      try {
        raw = new Uint8Array(await c.req.arrayBuffer());
      } catch (cause) {
        throw new HttpError(400, 'body_unreadable', `request body could not be read: ${(cause as Error)?.message ?? String(cause)}`, { cause });
      }
      const { json, binary } = splitBody(raw, c.req.header(INFERENCE_HEADER));
      let body: unknown;
      try {
        body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
      } catch (cause) {
        const where = c.req.header(INFERENCE_HEADER) !== undefined ? `the first ${json.length} bytes (Inference-Header-Content-Length)` : 'the body';
        throw new HttpError(400, 'bad_json', `${where} is not valid JSON: ${(cause as Error).message}`, { cause });
      }
      const plan = readInferRequest(body, binary, opts);

      const settled = await Promise.allSettled(plan.images.map((img) => runtime.infer({ type: img.type, bytes: img.bytes }, plan.budgetMs, METRICS_ROUTE)));
      const failed = settled.flatMap((s, index) => (s.status === 'rejected' ? [{ index, reason: s.reason as unknown }] : []));
      if (failed.length > 0) throw elementError(failed, settled.length);
      const answers = settled.map((s) => (s as PromiseFulfilledResult<InferAnswer>).value);
      return answer(c, name, plan, answers);
    });
  }

  return app;
}

/** Text of an answer: the OCR text, or a classifier's top label. */
function textOf(a: InferAnswer): string {
  return a.text ?? a.labels?.[0]?.label ?? '';
}
function confidenceOf(a: InferAnswer): number {
  return a.confidence ?? a.labels?.[0]?.score ?? 0;
}

function answer(c: Context, model: string, plan: InferPlan, answers: InferAnswer[]): Response {
  const parts: Uint8Array[] = [];
  const outputs = plan.outputs.map(({ name, binary }) => {
    const head = { name, datatype: OIP_OUTPUTS[name], shape: plan.shape };
    if (name === 'text') {
      if (!binary) return { ...head, data: answers.map(textOf) };
      const bytes = encodeBytesElements(answers.map((a) => new TextEncoder().encode(textOf(a))));
      parts.push(bytes);
      return { ...head, parameters: { binary_data_size: bytes.length } };
    }
    if (!binary) return { ...head, data: answers.map(confidenceOf) };
    const bytes = encodeFp32(answers.map(confidenceOf));
    parts.push(bytes);
    return { ...head, parameters: { binary_data_size: bytes.length } };
  });
  const response = {
    model_name: model,
    model_version: OIP_MODEL_VERSION,
    ...(plan.id !== undefined ? { id: plan.id } : {}),
    parameters: {
      deadline_met: answers.every((a) => a.deadlineMet),
      cost_usd: answers.reduce((s, a) => s + a.costUsd, 0),
      routes: answers.map((a) => (a.route.target === 'edge' ? 'edge' : (a.route.tier ?? 'fc'))).join(','),
    },
    outputs,
  };
  if (parts.length === 0) return c.json(response);
  const { body, headerLength } = joinBody(response, parts);
  return c.body(body as Uint8Array<ArrayBuffer>, 200, { 'content-type': 'application/octet-stream', 'Inference-Header-Content-Length': String(headerLength) });
}
