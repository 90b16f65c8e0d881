/** Model adapters, configs and the built-in registry. */
export { classifierConfigSchema, ctcTextConfigSchema, loadModelConfigFile, modelConfigSchema, ModelConfigError, parseModelConfig } from './config.ts';
export type { ClassifierConfig, CtcTextConfig, ModelConfig, ModelConfigInput } from './config.ts';
export { DEFAULT_MODEL, MODEL_FILES, MODEL_NAMES, getModelConfig, modelDir, resolveModelPaths } from './registry.ts';
export type { ModelName } from './registry.ts';
export { DEFAULT_DECODE_LIMITS, ItemError, decodeImage, sniffImageType } from './image-decode.ts';
export type { DecodeLimits, RgbImage, SizeRule } from './image-decode.ts';
export { writeNchw } from './adapter.ts';
export type { ItemOutput, ModelAdapter } from './adapter.ts';
export { createCtcTextAdapter, ctcCollapse, ctcGreedyDecode } from './ctc-text.ts';
export { createClassifierAdapter, toProbabilities } from './classifier.ts';
export { createAdapter } from './create.ts';
