/** Public surface of the edge agent: start one, build its app, its configuration. */
export { startAgent } from './service/agent.ts';
export type { RunningAgent, StartAgentOptions, FcConnection, FcProvider } from './service/agent.ts';
export { createApp } from './service/app.ts';
export type { AppOptions } from './service/app.ts';
export { AgentRuntime } from './service/runtime.ts';
export type { RuntimeOptions, InferAnswer, InferInput, RuntimeStats } from './service/runtime.ts';
export type { BatchObservation } from './core/index.ts';
export { HttpError } from './service/errors.ts';
export { loadConfig, parseConfig, helpText, configSchema, ConfigError, OPTIONS, BACKEND_NAMES } from './config.ts';
export type { AgentConfig, BackendName } from './config.ts';
export { createLocalOnnxBackend } from './backends/local-onnx.ts';
export type { LocalOnnxBackend, LocalOnnxOptions } from './backends/local-onnx.ts';
export { createNoopBackend } from './backends/noop.ts';
