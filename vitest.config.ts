import { defineConfig } from 'vitest/config';

// Suites load real ONNX models and start real servers: run files in forked processes, at most
// two at a time (the CI machine has 2 cores), with timeouts sized for model loads.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', '**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
