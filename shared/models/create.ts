/** Pick the adapter for a model config. */
import type { ModelConfig } from './config.ts';
import type { ModelAdapter } from './adapter.ts';
import { createCtcTextAdapter } from './ctc-text.ts';
import { createClassifierAdapter } from './classifier.ts';

/** The adapter for a config (paths must be absolute, see `resolveModelPaths`). */
export function createAdapter(config: ModelConfig): Promise<ModelAdapter> {
  return config.kind === 'ctc-text' ? createCtcTextAdapter(config) : createClassifierAdapter(config);
}
