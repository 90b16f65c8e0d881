/** The batch wire format (edge → function frame, function → edge JSON). See docs/wire-format.md. */
export {
  IMAGE_MIMES,
  ITEM_ERROR_CODES,
  MAX_HEADER_BYTES,
  MAX_ITEMS,
  WIRE_MAGIC,
  batchResponseSchema,
  frameHeaderSchema,
  headerItemSchema,
  itemResultSchema,
} from './schema.ts';
export type { BatchResponse, FrameHeader, ImageMime, ItemErrorCode, ItemResult } from './schema.ts';
export { WireFormatError, decodeBatch, encodeBatch } from './frame.ts';
export type { WireErrorCode, WireItem } from './frame.ts';
