import { defineConfig } from 'tsup';

// The OCI CLI, bundled to one file next to the native helper (dist/berth-helper).
export default defineConfig({
  entry: { 'berth-runtime': 'src/oci/main.ts' },
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  outDir: 'dist',
  clean: false,
  splitting: false,
  banner: { js: '#!/usr/bin/env node' },
  noExternal: [/^@berth\//, 'zod'],
  external: ['koffi'],
});
