import { defineConfig } from 'tsup';

// `berth` as one self-contained ESM file (fast to start, nothing to resolve at run time).
// The banner gives bundled CommonJS dependencies (undici) the `require` they call.
export default defineConfig({
  entry: { berth: 'src/berth.ts' },
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  outDir: 'dist',
  clean: true,
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __berthCreateRequire } from 'node:module';\nconst require = __berthCreateRequire(import.meta.url);",
  },
  noExternal: [/.*/],
});
