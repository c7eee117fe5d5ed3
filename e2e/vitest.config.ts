import { defineConfig } from 'vitest/config';

// End-to-end specs: the whole stack started the way scripts/start.sh starts it, driven in
// Debian's Chromium. One file at a time: each starts its own Berth.
export default defineConfig({
  test: {
    include: ['specs/**/*.spec.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    fileParallelism: false,
  },
});
