import { defineConfig } from 'vitest/config';

// One config for every package. `vitest run` runs the unit tests; `vitest run --mode root`
// runs the `*.root.test.ts` files, which need root and the real kernel (namespaces, cgroups,
// mounts) and so run one file at a time.
export default defineConfig(({ mode }) => {
  const root = mode === 'root';
  return {
    test: {
      include: root
        ? ['src/**/*.root.test.ts', 'test/**/*.root.test.ts']
        : ['src/**/*.test.ts', 'test/**/*.test.ts'],
      exclude: root ? ['**/node_modules/**'] : ['**/node_modules/**', '**/*.root.test.ts'],
      testTimeout: root ? 60_000 : 10_000,
      hookTimeout: root ? 60_000 : 10_000,
      fileParallelism: !root,
      passWithNoTests: true,
    },
  };
});
