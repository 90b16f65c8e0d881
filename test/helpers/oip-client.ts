/**
 * A minimal Open Inference Protocol (KServe v2 REST) client, written from the protocol's
 * documents (KServe "Open Inference Protocol", Triton's "Binary Tensor Data Extension" and
 * "Schedule Policy Extension"), not from the agent's code: it shares nothing with
 * edge-agent/service/oip-*.ts, so the tests check the server against the protocol.
 *
 * Binary framing per the documents: the JSON object first, its byte length in the
 * `Inference-Header-Content-Length` header, then each binary tensor in input order; a BYTES
 * element is a 4-byte little-endian unsigned length followed by its bytes; FP32 is 4 bytes
 * little-endian per element.
 */

export interface OipInput {
  name: string;
  shape: number[];
  datatype: string;
  parameters?: Record<string, unknown>;
  data?: unknown;
}

export interface OipRequest {
  id?: string;
  parameters?: Record<string, unknown>;
  inputs: OipInput[];
  outputs?: { name: string; parameters?: Record<string, unknown> }[];
}

export interface OipOutput {
  name: string;
  shape: number[];
  datatype: string;
  parameters?: Record<string, unknown>;
  data?: unknown[];
}

export interface OipResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: Record<string, unknown>;
  outputs: OipOutput[];
}

/** BYTES elements as one binary tensor. */
export function bytesTensor(elements: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const parts: number[] = [];
  for (const e of elements) {
    parts.push(e.length & 0xff, (e.length >>> 8) & 0xff, (e.length >>> 16) & 0xff, (e.length >>> 24) & 0xff);
    for (const b of e) parts.push(b);
  }
  return Uint8Array.from(parts);
}

/** A binary BYTES tensor back into its elements. */
export function bytesElements(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < data.length) {
    const len = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] * 2 ** 24);
    out.push(data.slice(i + 4, i + 4 + len));
    i += 4 + len;
  }
  return out;
}

/** A binary FP32 tensor as numbers. */
export function fp32Elements(data: Uint8Array): number[] {
  const copy = data.slice();
  return [...new Float32Array(copy.buffer, 0, copy.length / 4)];
}

/** A JSON-only request with BYTES data as base64 strings (the usual way to send images in JSON). */
export function jsonImageRequest(images: readonly Uint8Array[], extra: Partial<OipRequest> = {}): OipRequest {
  return { ...extra, inputs: [{ name: 'image', shape: [images.length], datatype: 'BYTES', data: images.map((b) => Buffer.from(b).toString('base64')) }] };
}

/** A body of JSON then binary tensors, and its headers. */
export function binaryBody(request: OipRequest, tensors: readonly Uint8Array[]): { body: Uint8Array<ArrayBuffer>; headers: Record<string, string> } {
  const head = new TextEncoder().encode(JSON.stringify(request));
  const body = new Uint8Array(head.length + tensors.reduce((s, t) => s + t.length, 0));
  body.set(head);
  let at = head.length;
  for (const t of tensors) {
    body.set(t, at);
    at += t.length;
  }
  return { body, headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(head.length) } };
}

/** A binary request for images: the input declares `binary_data_size` and carries no `data`. */
export function binaryImageRequest(images: readonly Uint8Array[], extra: Partial<OipRequest> = {}, shape = [images.length]): { body: Uint8Array<ArrayBuffer>; headers: Record<string, string> } {
  const tensor = bytesTensor(images);
  return binaryBody({ ...extra, inputs: [{ name: 'image', shape, datatype: 'BYTES', parameters: { binary_data_size: tensor.length } }] }, [tensor]);
}

/** Read a response: JSON, or JSON then binary outputs (filled into `data` here, decoded by datatype). */
export async function readResponse(res: Response): Promise<{ status: number; body: any; binaryOutputs: string[] }> {
  const raw = new Uint8Array(await res.arrayBuffer());
  const headerLength = res.headers.get('inference-header-content-length');
  if (headerLength === null) return { status: res.status, body: JSON.parse(new TextDecoder().decode(raw)), binaryOutputs: [] };
  const n = Number(headerLength);
  const body = JSON.parse(new TextDecoder().decode(raw.subarray(0, n))) as OipResponse;
  let at = n;
  const binaryOutputs: string[] = [];
  for (const o of body.outputs) {
    const size = o.parameters?.binary_data_size;
    if (typeof size !== 'number') continue;
    const chunk = raw.subarray(at, at + size);
    at += size;
    binaryOutputs.push(o.name);
    o.data = o.datatype === 'BYTES' ? bytesElements(chunk).map((e) => new TextDecoder().decode(e)) : fp32Elements(chunk);
  }
  if (at !== raw.length) throw new Error(`response has ${raw.length - at} bytes after its declared binary outputs`);
  return { status: res.status, body, binaryOutputs };
}

/** The named output's data. */
export function output(body: OipResponse, name: string): unknown[] {
  const o = body.outputs.find((x) => x.name === name);
  if (!o) throw new Error(`no output ${name} in ${JSON.stringify(body).slice(0, 300)}`);
  return o.data ?? [];
}
