/**
 * Encode and decode one batch frame:
 * `"SEB1"` · uint32 BE header length H · H bytes of UTF-8 JSON header · the items' bytes
 * concatenated in header order. Decoding is strict: any inconsistency is one WireFormatError.
 */
import { frameHeaderSchema, MAX_HEADER_BYTES, WIRE_MAGIC, type ImageMime } from './schema.ts';

/** One image in a batch. */
export interface WireItem {
  readonly id: string;
  readonly type: ImageMime;
  readonly bytes: Uint8Array;
}

/** Why a frame was rejected. */
export type WireErrorCode =
  | 'frame_too_short'
  | 'bad_magic'
  | 'header_length_out_of_range'
  | 'header_not_utf8'
  | 'header_not_json'
  | 'header_invalid'
  | 'byte_count_mismatch';

/** A malformed frame. `code` names the problem; the message says what was found. */
export class WireFormatError extends Error {
  override name = 'WireFormatError';
  constructor(
    readonly code: WireErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const PREFIX_BYTES = 8;
const MAGIC = Buffer.from(WIRE_MAGIC, 'ascii');

/**
 * Build a frame from items (in order) and an optional model name.
 * @example const frame = encodeBatch([{ id: 'a', type: 'image/png', bytes: png }], 'ocr-rec');
 */
export function encodeBatch(items: readonly WireItem[], model?: string): Buffer {
  const header: Record<string, unknown> = {};
  if (model !== undefined) header.model = model;
  header.items = items.map((it) => ({ id: it.id, type: it.type, bytes: it.bytes.byteLength }));
  // Validate on the way out too: the encoder must never produce a frame the decoder rejects.
  const parsed = frameHeaderSchema.safeParse(header);
  if (!parsed.success) throw new WireFormatError('header_invalid', `cannot encode batch: ${describeIssues(parsed.error.issues)}`);
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(PREFIX_BYTES);
  MAGIC.copy(prefix, 0);
  prefix.writeUInt32BE(json.byteLength, 4);
  return Buffer.concat([prefix, json, ...items.map((it) => it.bytes)]);
}

/**
 * Parse a frame. Item bytes are views into `buf` (no copy).
 * @throws WireFormatError on any malformed frame.
 */
export function decodeBatch(buf: Uint8Array): { model?: string; items: WireItem[] } {
  if (buf.byteLength < PREFIX_BYTES) {
    throw new WireFormatError('frame_too_short', `frame is ${buf.byteLength} bytes; at least ${PREFIX_BYTES} (magic + header length) are needed`);
  }
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (!b.subarray(0, 4).equals(MAGIC)) {
    throw new WireFormatError('bad_magic', `frame starts with 0x${b.subarray(0, 4).toString('hex')}, expected "${WIRE_MAGIC}" (0x${MAGIC.toString('hex')})`);
  }
  const headerBytes = b.readUInt32BE(4);
  const remaining = b.byteLength - PREFIX_BYTES;
  if (headerBytes === 0 || headerBytes > MAX_HEADER_BYTES || headerBytes > remaining) {
    throw new WireFormatError(
      'header_length_out_of_range',
      `header length is ${headerBytes} bytes; it must be 1..${Math.min(MAX_HEADER_BYTES, remaining)} (frame has ${remaining} bytes after the prefix)`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(b.subarray(PREFIX_BYTES, PREFIX_BYTES + headerBytes));
  } catch (cause) {
    throw new WireFormatError('header_not_utf8', 'header is not valid UTF-8', { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new WireFormatError('header_not_json', `header is not JSON: ${(cause as Error).message}`, { cause });
  }
  const parsed = frameHeaderSchema.safeParse(json);
  if (!parsed.success) throw new WireFormatError('header_invalid', `header is invalid: ${describeIssues(parsed.error.issues)}`);
  const header = parsed.data;
  const body = b.subarray(PREFIX_BYTES + headerBytes);
  const declared = header.items.reduce((s, it) => s + it.bytes, 0);
  if (declared !== body.byteLength) {
    throw new WireFormatError('byte_count_mismatch', `header declares ${declared} item bytes in ${header.items.length} items, but ${body.byteLength} bytes follow the header`);
  }
  let offset = 0;
  const items: WireItem[] = header.items.map((it) => {
    const bytes = body.subarray(offset, offset + it.bytes);
    offset += it.bytes;
    return { id: it.id, type: it.type, bytes };
  });
  return header.model === undefined ? { items } : { model: header.model, items };
}

function describeIssues(issues: readonly { path: PropertyKey[]; message: string }[]): string {
  return issues.map((i) => `${i.path.map(String).join('.') || '(header)'}: ${i.message}`).join('; ');
}
