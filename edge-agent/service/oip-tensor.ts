/**
 * The byte-level codec of the Open Inference Protocol's binary tensor data extension (KServe v2
 * REST, as Triton, KServe, MLServer and OpenVINO Model Server speak it):
 *
 * - a body with an `Inference-Header-Content-Length: N` header is N bytes of JSON followed by
 *   the binary data of every input that carries `parameters.binary_data_size`, in input order;
 * - tensor data is little-endian, row-major, without padding; a `BYTES` element is a 4-byte
 *   unsigned length followed by that many bytes; `FP32` is 4 bytes per element.
 *
 * Pure functions over bytes; every malformed body is an HttpError 400 that says which part is
 * wrong and by how many bytes, so a client author can fix the framing from the message alone.
 */
import { HttpError } from './errors.ts';

/** Header carrying the JSON part's length when binary tensor data follows it. */
export const INFERENCE_HEADER = 'inference-header-content-length';

/** A request body split into its JSON header and the binary data after it. */
export interface SplitBody {
  /** The JSON part, not yet parsed. */
  readonly json: Uint8Array;
  /** Bytes after the JSON (empty without the extension). */
  readonly binary: Uint8Array;
}

/**
 * Split a body at `Inference-Header-Content-Length` (absent: the whole body is JSON).
 * @example splitBody(body, req.header('inference-header-content-length'))
 */
export function splitBody(body: Uint8Array, headerLength: string | undefined): SplitBody {
  if (headerLength === undefined) return { json: body, binary: new Uint8Array(0) };
  const n = /^\s*\d+\s*$/.test(headerLength) ? Number(headerLength) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new HttpError(400, 'bad_header_length', `Expected the Inference-Header-Content-Length header to be a whole number of bytes, got \`${headerLength.slice(0, 40)}\``);
  if (n > body.length) throw new HttpError(400, 'bad_header_length', `Inference-Header-Content-Length says the JSON part is ${n} bytes but the body has only ${body.length}`);
  return { json: body.subarray(0, n), binary: body.subarray(n) };
}

/**
 * Hand out consecutive slices of the binary part, one per input that declared
 * `binary_data_size`; {@link finish} checks nothing is left over.
 */
export class BinaryCursor {
  private offset = 0;
  constructor(private readonly data: Uint8Array) {}

  /** The next `size` bytes for `what` (an input's name, for the message). */
  take(size: number, what: string): Uint8Array {
    const left = this.data.length - this.offset;
    if (size > left) throw new HttpError(400, 'bad_binary_data', `${what} declares binary_data_size ${size} but only ${left} bytes of binary data are left in the body (${this.data.length} after the JSON header)`);
    const out = this.data.subarray(this.offset, this.offset + size);
    this.offset += size;
    return out;
  }

  /** Throws when bytes follow the last declared tensor (a wrong size somewhere). */
  finish(): void {
    const left = this.data.length - this.offset;
    if (left > 0) throw new HttpError(400, 'bad_binary_data', `${left} bytes of binary data follow the last tensor that declares binary_data_size; the sizes do not add up to the body (is Inference-Header-Content-Length right?)`);
  }
}

/**
 * The elements of a binary `BYTES` tensor: each a 4-byte little-endian length and its bytes.
 * @param what tensor name for messages, e.g. `input "image"`
 */
export function decodeBytesElements(data: Uint8Array, what: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let i = 0;
  while (i < data.length) {
    if (i + 4 > data.length) throw new HttpError(400, 'bad_binary_data', `${what}: element ${out.length} starts at byte ${i} but only ${data.length - i} bytes are left, fewer than its 4-byte length prefix`);
    const len = dv.getUint32(i, true);
    i += 4;
    if (i + len > data.length) throw new HttpError(400, 'bad_binary_data', `${what}: element ${out.length} declares ${len} bytes but only ${data.length - i} are left in its binary data`);
    out.push(data.subarray(i, i + len));
    i += len;
  }
  return out;
}

/** A binary `BYTES` tensor of the given elements (length-prefixed, no padding). */
export function encodeBytesElements(elements: readonly Uint8Array[]): Uint8Array {
  const total = elements.reduce((s, e) => s + 4 + e.length, 0);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  let i = 0;
  for (const e of elements) {
    dv.setUint32(i, e.length, true);
    out.set(e, i + 4);
    i += 4 + e.length;
  }
  return out;
}

/** A binary `FP32` tensor (4 bytes per element, little-endian). */
export function encodeFp32(values: readonly number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const dv = new DataView(out.buffer);
  values.forEach((v, i) => dv.setFloat32(i * 4, v, true));
  return out;
}

/** Elements of a binary `FP32` tensor (for clients and tests). */
export function decodeFp32(data: Uint8Array): number[] {
  if (data.length % 4 !== 0) throw new RangeError(`FP32 data of ${data.length} bytes is not a whole number of 4-byte elements`);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return Array.from({ length: data.length / 4 }, (_, i) => dv.getFloat32(i * 4, true));
}

/** One body of JSON then binary parts, with the JSON's length for `Inference-Header-Content-Length`. */
export function joinBody(json: unknown, parts: readonly Uint8Array[]): { body: Uint8Array; headerLength: number } {
  const head = new TextEncoder().encode(JSON.stringify(json));
  const body = new Uint8Array(head.length + parts.reduce((s, p) => s + p.length, 0));
  body.set(head, 0);
  let i = head.length;
  for (const p of parts) {
    body.set(p, i);
    i += p.length;
  }
  return { body, headerLength: head.length };
}
