import { defineConfig } from 'vitest/config';

// Suites load real ONNX models and start real servers: run files in forked processes, with
// timeouts sized for model loads.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', '**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    pool: 'forks',
    // One scratch directory per run, removed at its end (test/helpers/temp-root.ts).
    globalSetup: ['test/helpers/temp-root.ts'],
    // Agent suites start real agents, local FCs and ONNX workers; two of them at once on a
    // 2-core machine starve each other's deadlines, so files run one after another.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
