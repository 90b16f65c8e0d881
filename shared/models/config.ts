/**
 * Model configuration: what an adapter needs to turn images into an input tensor and the
 * output tensor back into results. A discriminated union on `kind`; validated with zod so a
 * JSON config file (e.g. a ResNet-50 from the ONNX model zoo) fails early with a clear message.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const triple = z.tuple([z.number(), z.number(), z.number()]);

/** CTC text-line recogniser (PP-OCR rec family). */
export const ctcTextConfigSchema = z.strictObject({
  kind: z.literal('ctc-text'),
  name: z.string().min(1),
  /** ONNX file; relative paths resolve against the model directory. */
  modelPath: z.string().min(1),
  /** Dictionary, one character per line. Class 0 is the CTC blank, then the lines, then a space. */
  dictPath: z.string().min(1),
  /** Input height. @default 48 */
  height: z.number().int().positive().default(48),
  /** Widest item after resizing (wider lines are squeezed). @default 320 */
  maxWidth: z.number().int().positive().default(320),
});
export type CtcTextConfig = z.infer<typeof ctcTextConfigSchema>;

/**
 * Any NCHW image classifier. Normalisation per channel c: (x · scale − mean[c]) / std[c].
 * `resize`: `stretch` to width×height (ImageNet models), or `pad-right`: height fixed, width
 * kept in ratio up to `width`, zero-padded on the right (PaddleOCR's direction classifier).
 */
export const classifierConfigSchema = z
  .strictObject({
    kind: z.literal('classifier'),
    name: z.string().min(1),
    modelPath: z.string().min(1),
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    mean: triple,
    std: triple.refine((s) => s.every((v) => v > 0), 'std must be > 0'),
    channelOrder: z.enum(['RGB', 'BGR']).default('RGB'),
    /** @default 1/255 */
    scale: z.number().positive().default(1 / 255),
    resize: z.enum(['stretch', 'pad-right']).default('stretch'),
    /** Label per class index; or `labelsPath` (one per line); else the index is the label. */
    labels: z.array(z.string()).optional(),
    labelsPath: z.string().optional(),
    /** Labels returned per item. @default 5 */
    topK: z.number().int().positive().default(5),
  });
export type ClassifierConfig = z.infer<typeof classifierConfigSchema>;

export const modelConfigSchema = z.discriminatedUnion('kind', [ctcTextConfigSchema, classifierConfigSchema]);
/** A model's configuration (input form `z.input<typeof modelConfigSchema>` allows defaults). */
export type ModelConfig = z.infer<typeof modelConfigSchema>;
export type ModelConfigInput = z.input<typeof modelConfigSchema>;

/** A model name or config that cannot be used. */
export class ModelConfigError extends Error {
  override name = 'ModelConfigError';
}

/** Validate a config object, filling defaults. */
export function parseModelConfig(raw: unknown, where = 'model config'): ModelConfig {
  const r = modelConfigSchema.safeParse(raw);
  if (!r.success) {
    throw new ModelConfigError(`${where} is invalid: ${r.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`).join('; ')}`);
  }
  return r.data;
}

/**
 * Read a JSON model config file.
 * @example loadModelConfigFile('/models/resnet50.json') // { kind: 'classifier', ... }
 */
export function loadModelConfigFile(path: string): ModelConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new ModelConfigError(`cannot read model config ${path}`, { cause });
  }
  return parseModelConfig(raw, `model config ${path}`);
}
