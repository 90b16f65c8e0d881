/**
 * CTC text-line recognition (PP-OCRv4 rec): images at height 48, width in ratio up to 320,
 * padded to the widest item of the batch; output [N, T, classes] decoded greedily.
 */
import { readFile } from 'node:fs/promises';
import type { CtcTextConfig } from './config.ts';
import { writeNchw, type ItemOutput, type ModelAdapter } from './adapter.ts';
import type { RgbImage } from './image-decode.ts';

const PADDLE_NORM = { scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], bgr: false };

/**
 * Greedy CTC decoding of one sequence: take the best class per step, drop repeats, then blanks.
 * @param probs row-major [steps × classes]
 * @param charset class i ≥ 1 is charset[i - 1]; class 0 is the blank
 * @returns trimmed text and the mean probability of the kept characters (0 if none)
 */
export function ctcGreedyDecode(probs: Float32Array, steps: number, classes: number, charset: readonly string[]): { text: string; confidence: number } {
  const best = new Int32Array(steps);
  const bestP = new Float32Array(steps);
  for (let t = 0; t < steps; t++) {
    const row = t * classes;
    let b = 0;
    let p = probs[row];
    for (let c = 1; c < classes; c++) {
      if (probs[row + c] > p) {
        p = probs[row + c];
        b = c;
      }
    }
    best[t] = b;
    bestP[t] = p;
  }
  return ctcCollapse(best, bestP, charset);
}

/**
 * The CTC collapse of a sequence's best classes (drop repeats, then blanks), as
 * {@link ctcGreedyDecode} returns it.
 * @param best the best class at each step (numbers or int64s, as ONNX Runtime's ArgMax gives)
 * @param score its probability at each step
 */
export function ctcCollapse(best: ArrayLike<number | bigint>, score: ArrayLike<number>, charset: readonly string[]): { text: string; confidence: number } {
  let text = '';
  let sum = 0;
  let kept = 0;
  let prev = -1;
  for (let t = 0; t < best.length; t++) {
    const b = Number(best[t]);
    if (b !== 0 && b !== prev) {
      text += charset[b - 1] ?? '';
      sum += score[t];
      kept++;
    }
    prev = b;
  }
  return { text: text.trim(), confidence: kept ? sum / kept : 0 };
}

/** Build the adapter; reads the dictionary. */
export async function createCtcTextAdapter(config: CtcTextConfig): Promise<ModelAdapter> {
  const dict = (await readFile(config.dictPath, 'utf8')).split(/\r?\n/);
  if (dict.at(-1) === '') dict.pop();
  // PaddleOCR appends a space as the last class (use_space_char).
  const charset = [...dict, ' '];
  const height = config.height;
  return {
    name: config.name,
    sizeRule: { mode: 'fit-height', height, maxWidth: config.maxWidth },
    toInput(images: readonly RgbImage[]) {
      const width = Math.max(...images.map((i) => i.width));
      const data = new Float32Array(images.length * 3 * height * width);
      images.forEach((img, n) => writeNchw(data, n, img, height, width, PADDLE_NORM));
      return { data, dims: [images.length, 3, height, width] as const };
    },
    // Only each step's best class counts, of 6,625: the model finds it (onnx-head.ts).
    output: 'best-class',
    classes: charset.length + 1,
    fromBestClass(index: BigInt64Array, score: Float32Array, dims: readonly number[], batchSize: number): ItemOutput[] {
      const [n, steps] = dims;
      if (dims.length !== 2 || n !== batchSize) throw new Error(`ctc-text: expected best classes [${batchSize}, T], got [${dims.join(', ')}]`);
      return Array.from({ length: n }, (_, i) => ctcCollapse(index.subarray(i * steps, (i + 1) * steps), score.subarray(i * steps, (i + 1) * steps), charset));
    },
  };
}
