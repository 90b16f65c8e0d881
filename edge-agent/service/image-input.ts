/**
 * Reading images out of a request: a raw body (Content-Type image/png|jpeg|webp), multipart
 * form fields, or JSON `{"image": "<base64>"}`. The declared type must match the bytes' magic
 * number, so a mislabelled or truncated upload is a 400 here, not a model error later.
 */
import { HttpError } from './errors.ts';

/**
 * Largest image (width × height) admitted, read from the file's header before it is queued: a
 * small file that claims huge dimensions (a decompression bomb) is refused here, as the model's
 * decoder would refuse it, without costing a queue slot or an upload to FC.
 */
// The same number as DEFAULT_DECODE_LIMITS.maxInputPixels (shared/models/image-decode.ts), not
// imported: that module loads sharp, which the agent's main thread otherwise never needs.
export const MAX_IMAGE_PIXELS = 40_000_000;

/** Image types the models accept. */
export const ACCEPTED_MIMES = ['image/png', 'image/jpeg', 'image/webp'] as const;
export type AcceptedMime = (typeof ACCEPTED_MIMES)[number];

/** One uploaded image. */
export interface UploadedImage {
  /** Form field or file name, for error messages and batch results. */
  readonly name: string;
  readonly type: AcceptedMime;
  readonly bytes: Uint8Array;
}

/** Image type from the first bytes, or undefined when it is none of the accepted ones. */
export function sniffImageType(b: Uint8Array): AcceptedMime | undefined {
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a) return 'image/png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.length >= 12 && b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 && b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50) return 'image/webp';
  return undefined;
}

/**
 * Width and height from an image's header (PNG IHDR, JPEG SOFn, WebP VP8/VP8L/VP8X), or
 * undefined when the header is cut short or not where the format puts it.
 */
export function imageDimensions(type: AcceptedMime, b: Uint8Array): { width: number; height: number } | undefined {
  const u16be = (i: number) => (b[i] << 8) | b[i + 1];
  const u24le = (i: number) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16);
  const tag = (i: number) => String.fromCharCode(b[i], b[i + 1], b[i + 2], b[i + 3]);
  if (type === 'image/png') {
    if (b.length < 24 || tag(12) !== 'IHDR') return undefined;
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    return { width: dv.getUint32(16), height: dv.getUint32(20) };
  }
  if (type === 'image/jpeg') {
    let i = 2;
    while (i + 4 <= b.length) {
      if (b[i] !== 0xff) return undefined;
      const marker = b[i + 1];
      if (marker === 0xff) {
        i++; // fill byte
        continue;
      }
      if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
        i += 2; // standalone markers
        continue;
      }
      if (marker === 0xd9 || marker === 0xda) return undefined; // end or scan data before any frame header
      const len = u16be(i + 2);
      if (len < 2) return undefined;
      // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC)
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        if (i + 9 > b.length) return undefined;
        return { width: u16be(i + 7), height: u16be(i + 5) };
      }
      i += 2 + len;
    }
    return undefined;
  }
  // WebP: RIFF....WEBP then the first chunk.
  if (b.length < 16) return undefined;
  const chunk = tag(12);
  if (chunk === 'VP8X' && b.length >= 30) return { width: 1 + u24le(24), height: 1 + u24le(27) };
  if (chunk === 'VP8 ' && b.length >= 30) return { width: (b[26] | (b[27] << 8)) & 0x3fff, height: (b[28] | (b[29] << 8)) & 0x3fff };
  if (chunk === 'VP8L' && b.length >= 25) return { width: 1 + (b[21] | ((b[22] & 0x3f) << 8)), height: 1 + ((b[22] >> 6) | (b[23] << 2) | ((b[24] & 0x0f) << 10)) };
  return undefined;
}

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0].trim().toLowerCase();
}

/** Check one image's bytes against its declared type (when there is one). */
export function checkImage(name: string, declared: string | undefined, bytes: Uint8Array): UploadedImage {
  if (bytes.length === 0) throw new HttpError(400, 'empty_image', `image \`${name}\` is empty`);
  const sniffed = sniffImageType(bytes);
  const d = mediaType(declared);
  const generic = d === '' || d === 'application/octet-stream';
  if (!generic && !(ACCEPTED_MIMES as readonly string[]).includes(d)) {
    throw new HttpError(415, 'unsupported_media_type', `image \`${name}\` has type ${d}; accepted: ${ACCEPTED_MIMES.join(', ')}`);
  }
  if (!sniffed) throw new HttpError(400, 'bad_image', `image \`${name}\` is not a PNG, JPEG or WebP file (${bytes.length} bytes, unrecognised header)`);
  if (!generic && sniffed !== d) throw new HttpError(400, 'bad_image', `image \`${name}\` is declared ${d} but its bytes are ${sniffed}`);
  const size = imageDimensions(sniffed, bytes);
  if (!size) throw new HttpError(400, 'bad_image', `image \`${name}\` is a truncated or corrupt ${sniffed} (${bytes.length} bytes): no image size in its header`);
  if (size.width === 0 || size.height === 0) throw new HttpError(400, 'bad_image', `image \`${name}\` is ${size.width}×${size.height} px: it has no pixels`);
  if (size.width * size.height > MAX_IMAGE_PIXELS) {
    throw new HttpError(422, 'pixel_limit', `image \`${name}\` claims ${size.width}×${size.height} = ${size.width * size.height} px; the limit is ${MAX_IMAGE_PIXELS} px (${bytes.length} bytes on the wire)`);
  }
  return { name, type: sniffed, bytes };
}

/** Strict base64 (standard or URL alphabet, optional data: URL prefix). */
export function decodeBase64Image(name: string, value: unknown): UploadedImage {
  if (typeof value !== 'string' || value.length === 0) throw new HttpError(400, 'bad_request', `Expected \`${name}\` to be a non-empty base64 string`);
  let declared: string | undefined;
  let s = value.trim();
  const dataUrl = /^data:([^;,]+);base64,/i.exec(s);
  if (dataUrl) {
    declared = dataUrl[1];
    s = s.slice(dataUrl[0].length);
  }
  s = s.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(s)) throw new HttpError(400, 'bad_base64', `\`${name}\` is not valid base64`);
  return checkImage(name, declared, Buffer.from(s, 'base64'));
}

/**
 * The parts of a request the reader needs. Hono's `c.req` has them; reading through it rather
 * than `c.req.raw` keeps @hono/node-server from building a full fetch Request per call (a large
 * share of the agent's per-request cost). {@link bodyOf} adapts a fetch Request.
 */
export interface BodySource {
  header(name: string): string | undefined;
  arrayBuffer(): Promise<ArrayBuffer>;
  formData(): Promise<FormData>;
  json(): Promise<unknown>;
}

/** A fetch Request as a BodySource. */
export function bodyOf(req: Request): BodySource {
  return {
    header: (name) => req.headers.get(name) ?? undefined,
    arrayBuffer: () => req.arrayBuffer(),
    formData: () => req.formData(),
    json: () => req.json(),
  };
}

/** Read every image of a request to /v1/infer (`multi` false) or /v1/infer/batch (`multi` true). */
export async function readImages(req: BodySource, multi: boolean): Promise<UploadedImage[]> {
  const type = mediaType(req.header('content-type'));
  if (type === 'multipart/form-data') {
    let form: FormData;
    try {
      form = await req.formData();
    } catch (cause) {
      throw new HttpError(400, 'bad_multipart', `multipart body cannot be parsed: ${(cause as Error).message}`, { cause });
    }
    const files: UploadedImage[] = [];
    for (const [field, value] of form.entries()) {
      if (typeof value === 'string') {
        if (field === 'image') files.push(decodeBase64Image(field, value)); // a text field named image: base64
        continue;
      }
      if (!multi && field !== 'image') continue;
      files.push(checkImage(value.name || field, value.type, new Uint8Array(await value.arrayBuffer())));
    }
    if (files.length === 0) throw new HttpError(400, 'missing_image', multi ? 'multipart body has no file fields' : 'multipart body has no `image` field');
    if (!multi && files.length > 1) throw new HttpError(400, 'too_many_images', `/v1/infer takes one image, got ${files.length}; use /v1/infer/batch`);
    return files;
  }
  if (type === 'application/json') {
    let body: unknown;
    try {
      body = await req.json();
    } catch (cause) {
      throw new HttpError(400, 'bad_json', `body is not valid JSON: ${(cause as Error).message}`, { cause });
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'bad_request', 'Expected a JSON object with `image` (base64)');
    const o = body as Record<string, unknown>;
    if (multi && Array.isArray(o.images)) {
      if (o.images.length === 0) throw new HttpError(400, 'missing_image', '`images` is empty');
      return o.images.map((v, i) => decodeBase64Image(`images[${i}]`, v));
    }
    if (!('image' in o)) throw new HttpError(400, 'missing_image', multi ? 'Expected `images` (array of base64) or `image`' : 'Expected `image` (base64) in the JSON body');
    return [decodeBase64Image('image', o.image)];
  }
  if (type === '') throw new HttpError(415, 'unsupported_media_type', `missing Content-Type; send ${ACCEPTED_MIMES.join(', ')}, multipart/form-data or application/json`);
  if (!(ACCEPTED_MIMES as readonly string[]).includes(type) && type !== 'application/octet-stream') {
    throw new HttpError(415, 'unsupported_media_type', `Content-Type ${type} is not accepted; send ${ACCEPTED_MIMES.join(', ')}, multipart/form-data or application/json`);
  }
  let body: ArrayBuffer;
  try {
    body = await req.arrayBuffer();
  } catch (cause) {
    // The client stopped sending (aborted, or cut by the request timeout).
    throw new HttpError(400, 'body_unreadable', `request body could not be read: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
  return [checkImage('body', type, new Uint8Array(body))];
}
