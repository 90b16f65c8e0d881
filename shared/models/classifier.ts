/**
 * Generic NCHW image classifier: sizes and normalises images from its config and returns the
 * top-k labels. Outputs that are not already probabilities (logits) get a softmax.
 */
import { readFile } from 'node:fs/promises';
import type { ClassifierConfig } from './config.ts';
import { writeNchw, type ItemOutput, type ModelAdapter } from './adapter.ts';
import type { RgbImage } from './image-decode.ts';

/** Probabilities from one output row: kept if it already sums to 1, else softmax. */
export function toProbabilities(row: Float32Array): Float32Array {
  let sum = 0;
  let min = Infinity;
  for (const v of row) {
    sum += v;
    if (v < min) min = v;
  }
  if (min >= 0 && Math.abs(sum - 1) < 1e-3) return row;
  const max = Math.max(...row);
  const out = new Float32Array(row.length);
  let z = 0;
  for (let i = 0; i < row.length; i++) z += out[i] = Math.exp(row[i] - max);
  for (let i = 0; i < row.length; i++) out[i] /= z;
  return out;
}

/** Build the adapter; reads `labelsPath` if given. */
export async function createClassifierAdapter(config: ClassifierConfig): Promise<ModelAdapter> {
  let labels = config.labels;
  if (!labels && config.labelsPath) labels = (await readFile(config.labelsPath, 'utf8')).split(/\r?\n/).filter((l) => l.length > 0);
  const { width, height } = config;
  const norm = { scale: config.scale, mean: config.mean, std: config.std, bgr: config.channelOrder === 'BGR' };
  return {
    name: config.name,
    sizeRule: config.resize === 'stretch' ? { mode: 'stretch', width, height } : { mode: 'fit-height', height, maxWidth: width },
    toInput(images: readonly RgbImage[]) {
      const data = new Float32Array(images.length * 3 * height * width);
      images.forEach((img, n) => writeNchw(data, n, img, height, width, norm));
      return { data, dims: [images.length, 3, height, width] as const };
    },
    // The top k labels with their probabilities need the whole class axis.
    output: 'full',
    fromOutput(data: Float32Array, dims: readonly number[], batchSize: number): ItemOutput[] {
      const n = dims[0];
      const classes = dims.slice(1).reduce((a, b) => a * b, 1);
      if (n !== batchSize) throw new Error(`classifier: expected ${batchSize} output rows, got [${dims.join(', ')}]`);
      if (labels && labels.length !== classes) throw new Error(`classifier ${config.name}: model has ${classes} classes but ${labels.length} labels are configured`);
      return Array.from({ length: n }, (_, i) => {
        const probs = toProbabilities(data.subarray(i * classes, (i + 1) * classes));
        const order = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a]).slice(0, config.topK);
        const top = order.map((c) => ({ label: labels?.[c] ?? String(c), score: probs[c] }));
        return { labels: top, confidence: Math.min(1, Math.max(0, top[0]?.score ?? 0)) };
      });
    },
  };
}
