import { copyFileSync, existsSync } from 'node:fs';
import { defineConfig } from 'tsup';

// berthd as one ESM file. Workspace packages are inlined; native and engine packages stay
// external and load from node_modules (better-sqlite3's addon, Prisma's runtime and wasm).
// The runtime's native helper (berth-helper, built by @berth/runtime's build) is copied next
// to the bundle, where the inlined runtime looks for it.
const HELPER = '../runtime/dist/berth-helper';

export default defineConfig({
  entry: { berthd: 'src/berthd.ts' },
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  outDir: 'dist',
  clean: true,
  // CommonJS dependencies of the runtime (tar-stream, streamx) call require() for Node
  // built-ins, which an ESM bundle only has through createRequire.
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __berthCreateRequire } from 'node:module';\nconst require = __berthCreateRequire(import.meta.url);",
  },
  noExternal: [/^@berth\//],
  external: ['better-sqlite3', /^@prisma\//, 'koffi'],
  async onSuccess() {
    if (existsSync(HELPER)) copyFileSync(HELPER, 'dist/berth-helper');
  },
});
