import { defineConfig } from 'vitest/config';

// forks, not threads: the Vulkan ICD is chosen through process.env before Dawn starts, and a
// worker thread's env is a copy. GPU suites share one device per file and run one file at a time
// on software adapters (two CPU cores; parallel files would only thrash them).
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: process.env.ECHOCLIP_TEST_PARALLEL === '1',
    reporters: ['default'],
  },
});
