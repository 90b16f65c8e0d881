/**
 * The model adapter contract: how a model sizes its images, packs them into one NCHW input
 * tensor, and turns the output tensor back into per-item results. ONNX Runtime itself lives in
 * shared/batch-inference.ts; adapters are pure array code.
 */
import type { ItemResult } from '../wire/index.ts';
import type { RgbImage, SizeRule } from './image-decode.ts';

/** What an adapter says about one item (the caller adds `id`). */
export type ItemOutput = Omit<ItemResult, 'id' | 'error'>;

interface AdapterBase {
  readonly name: string;
  readonly sizeRule: SizeRule;
  /** Pack decoded images (batch order) into one float32 NCHW tensor. */
  toInput(images: readonly RgbImage[]): { data: Float32Array; dims: readonly [number, number, number, number] };
}

/**
 * What the adapter reads back. `full`: the model's output tensor. `best-class`: only the best
 * class along its last axis, computed inside the model by the head onnx-head.ts appends — for
 * outputs whose class axis is large and of which only the maximum counts (CTC decoding).
 */
export type ModelAdapter = AdapterBase &
  (
    | {
        readonly output: 'full';
        /** One output per image, same order. */
        fromOutput(data: Float32Array, dims: readonly number[], batchSize: number): ItemOutput[];
      }
    | {
        readonly output: 'best-class';
        /** How many classes the output's last axis must hold (checked at load, where the model declares it). */
        readonly classes: number;
        /** One output per image, same order, from the best class's index and score at each position (`dims` = the output's without its last axis). */
        fromBestClass(index: BigInt64Array, score: Float32Array, dims: readonly number[], batchSize: number): ItemOutput[];
      }
  );

/**
 * Write one interleaved RGB image into slot `n` of an NCHW tensor of width `tensorWidth`,
 * normalising each channel c to (x · scale − mean[c]) / std[c]. Pixels right of the image stay
 * as they are (0 = the padding PaddleOCR uses, in normalised space).
 */
export function writeNchw(
  out: Float32Array,
  n: number,
  img: RgbImage,
  tensorHeight: number,
  tensorWidth: number,
  norm: { scale: number; mean: readonly number[]; std: readonly number[]; bgr: boolean },
): void {
  const plane = tensorHeight * tensorWidth;
  const base = n * 3 * plane;
  const w = Math.min(img.width, tensorWidth);
  const h = Math.min(img.height, tensorHeight);
  for (let c = 0; c < 3; c++) {
    const src = norm.bgr ? 2 - c : c;
    const m = norm.mean[c];
    const k = norm.scale / norm.std[c];
    const mk = m / norm.std[c];
    const off = base + c * plane;
    for (let y = 0; y < h; y++) {
      const row = off + y * tensorWidth;
      const srow = y * img.width * 3 + src;
      for (let x = 0; x < w; x++) out[row + x] = img.data[srow + x * 3] * k - mk;
    }
  }
}
