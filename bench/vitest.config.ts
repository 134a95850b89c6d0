import { defineConfig } from 'vitest/config';

// Benchmarks live outside test/ so the test run never picks them up. Run them with
//   npx vitest run --root bench [name]
// Each writes its JSON to bench/results/. One file at a time: timings must not share the CPU.
export default defineConfig({
  cacheDir: '../node_modules/.vite-bench', // not bench/node_modules
  test: { include: ['**/*.bench.test.ts'], pool: 'forks', fileParallelism: false, testTimeout: 600_000 },
});
