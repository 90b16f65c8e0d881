/**
 * The batch wire format's schemas: the frame header (edge → function) and the response JSON
 * (function → edge). One schema, used by the encoder, the decoder, the FC handler and the
 * agent's FC backend. See docs/wire-format.md.
 */
import { z } from 'zod';

/** Image types an item may declare. */
export const IMAGE_MIMES = ['image/png', 'image/jpeg', 'image/webp'] as const;
/** One of {@link IMAGE_MIMES}. */
export type ImageMime = (typeof IMAGE_MIMES)[number];

/** Frame magic: ASCII "SEB1" (serverless-edge-batching, version 1). */
export const WIRE_MAGIC = 'SEB1';
/** Upper bound on the JSON header, so a corrupt length cannot make the decoder allocate wildly. */
export const MAX_HEADER_BYTES = 1 << 20;
/** Upper bound on items in one frame. */
export const MAX_ITEMS = 1024;

/** One item's entry in the frame header; its bytes follow the header in the same order. */
export const headerItemSchema = z.strictObject({
  id: z.string().min(1).max(256),
  type: z.enum(IMAGE_MIMES),
  bytes: z.number().int().min(0),
});

/** The JSON header of a frame. */
export const frameHeaderSchema = z
  .strictObject({
    model: z.string().min(1).max(64).optional(),
    items: z.array(headerItemSchema).min(1).max(MAX_ITEMS),
  })
  .refine((h) => new Set(h.items.map((i) => i.id)).size === h.items.length, { message: 'item ids must be unique within a batch', path: ['items'] });
export type FrameHeader = z.infer<typeof frameHeaderSchema>;

/** Per-item error codes a model adapter reports (the batch still succeeds). */
export const ITEM_ERROR_CODES = [
  'empty_item',
  'too_large',
  'unrecognised_format',
  'pixel_limit',
  'undecodable_image',
  'type_mismatch',
  'inference_failed',
] as const;
export type ItemErrorCode = (typeof ITEM_ERROR_CODES)[number];

/** One item's result, in request order. A failed item has `error` and nothing else. */
export const itemResultSchema = z.object({
  id: z.string(),
  /** Recognised text (OCR models). */
  text: z.string().optional(),
  /** Mean probability of the chosen characters, or the top label's score. 0..1. */
  confidence: z.number().min(0).max(1).optional(),
  /** Top-k labels, best first (classifier models). */
  labels: z.array(z.object({ label: z.string(), score: z.number() })).optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});
export type ItemResult = z.infer<typeof itemResultSchema>;

/** The function's response to one frame. */
export const batchResponseSchema = z.object({
  model: z.string(),
  batchSize: z.number().int().min(0),
  /** True on the first invocation an instance serves after its initializer. */
  coldStart: z.boolean(),
  /** Time to decode + preprocess all items. */
  decodeMs: z.number().min(0),
  /** Time of the ONNX run (0 when no item was decodable). */
  inferMs: z.number().min(0),
  /** The handler's own time for this invocation, as the function measured it (absent from older functions). */
  handlerMs: z.number().min(0).optional(),
  /** On a cold start after an initializer: the initializer's time as the function measured it (FC bills it apart). */
  initializerMs: z.number().min(0).optional(),
  results: z.array(itemResultSchema),
});
export type BatchResponse = z.infer<typeof batchResponseSchema>;
