import { defineConfig } from 'tsup';

// berthd as one ESM file. Workspace packages are inlined; native and engine packages stay
// external and load from node_modules (better-sqlite3's addon, Prisma's runtime and wasm).
export default defineConfig({
  entry: { berthd: 'src/berthd.ts' },
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  outDir: 'dist',
  clean: true,
  // The require() that bundled CommonJS dependencies (tar-stream's streamx) call.
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __berthCreateRequire } from 'node:module';\nconst require = __berthCreateRequire(import.meta.url);",
  },
  noExternal: [/^@berth\//],
  external: ['better-sqlite3', 'koffi', /^@prisma\//],
});
