/**
 * Guarded image decoding with sharp: the only place untrusted image bytes are parsed.
 * Each item is checked for size, format (magic bytes vs declared type) and pixel count
 * before sharp decodes it, so one bad item fails alone with an {@link ItemError}.
 */
import sharp from 'sharp';
import type { ImageMime, ItemErrorCode } from '../wire/index.ts';

/** Limits applied to every item. */
export interface DecodeLimits {
  /** Largest encoded item. @default 8 MiB */
  readonly maxItemBytes: number;
  /** Largest decoded image (width × height) — the decompression-bomb guard. @default 40 Mpx */
  readonly maxInputPixels: number;
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = { maxItemBytes: 8 * 1024 * 1024, maxInputPixels: 40_000_000 };

/** One item that cannot be used; the rest of its batch carries on. */
export class ItemError extends Error {
  override name = 'ItemError';
  constructor(
    readonly code: ItemErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Image type from its first bytes, or undefined when it is none of the supported ones. */
export function sniffImageType(bytes: Uint8Array): ImageMime | undefined {
  const b = bytes;
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a) return 'image/png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP') return 'image/webp';
  return undefined;
}

function ascii(b: Uint8Array, from: number, to: number): string {
  return String.fromCharCode(...b.subarray(from, to));
}

/** How to size the decoded image for the model. */
export type SizeRule =
  /** Height fixed, width in ratio, clamped to [1, maxWidth]. */
  | { readonly mode: 'fit-height'; readonly height: number; readonly maxWidth: number }
  /** Exactly width × height, ignoring the ratio. */
  | { readonly mode: 'stretch'; readonly width: number; readonly height: number };

/** Decoded RGB pixels, interleaved, 3 bytes per pixel. */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly data: Buffer;
}

/**
 * Check and decode one item to RGB at the size the model wants (alpha flattened on white).
 * @throws ItemError with code empty_item, too_large, unrecognised_format, type_mismatch,
 *   pixel_limit or undecodable_image.
 */
export async function decodeImage(bytes: Uint8Array, declared: ImageMime, size: SizeRule, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): Promise<RgbImage> {
  if (bytes.byteLength === 0) throw new ItemError('empty_item', 'item has 0 bytes');
  if (bytes.byteLength > limits.maxItemBytes) {
    throw new ItemError('too_large', `item is ${bytes.byteLength} bytes; the limit is ${limits.maxItemBytes}`);
  }
  const sniffed = sniffImageType(bytes);
  if (!sniffed) throw new ItemError('unrecognised_format', `item bytes are not a PNG, JPEG or WebP image (declared ${declared})`);
  if (sniffed !== declared) throw new ItemError('type_mismatch', `item is declared ${declared} but its bytes are ${sniffed}`);

  const options = { limitInputPixels: limits.maxInputPixels, failOn: 'error' as const };
  let width: number;
  let height: number;
  try {
    const meta = await sharp(bytes, options).metadata();
    // Orientations 5-8 swap width and height once applied.
    const swap = (meta.orientation ?? 1) >= 5;
    width = swap ? meta.height : meta.width;
    height = swap ? meta.width : meta.height;
  } catch (cause) {
    throw mapSharpError(cause);
  }
  if (!(width > 0 && height > 0)) throw new ItemError('undecodable_image', 'image header has no size');
  // Checked here as well as by sharp so the message states the size.
  if (width * height > limits.maxInputPixels) {
    throw new ItemError('pixel_limit', `image is ${width}×${height} = ${width * height} px; the limit is ${limits.maxInputPixels}`);
  }
  const target =
    size.mode === 'stretch'
      ? { width: size.width, height: size.height }
      : { width: Math.max(1, Math.min(size.maxWidth, Math.ceil((size.height * width) / height))), height: size.height };
  try {
    const { data, info } = await sharp(bytes, options)
      .rotate()
      .flatten({ background: '#ffffff' })
      .resize({ width: target.width, height: target.height, fit: 'fill' })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { width: info.width, height: info.height, data };
  } catch (cause) {
    throw mapSharpError(cause);
  }
}

function mapSharpError(cause: unknown): ItemError {
  if (cause instanceof ItemError) return cause;
  const msg = cause instanceof Error ? cause.message : String(cause);
  if (/pixel limit/i.test(msg)) return new ItemError('pixel_limit', `image exceeds the pixel limit: ${firstLine(msg)}`, { cause });
  return new ItemError('undecodable_image', `image cannot be decoded: ${firstLine(msg)}`, { cause });
}

function firstLine(s: string): string {
  return s.split('\n')[0].slice(0, 200);
}
