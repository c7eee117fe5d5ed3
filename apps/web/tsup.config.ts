import { defineConfig } from 'tsup';

// The custom server (and the setup command start.sh runs) as plain Node ESM. Workspace
// packages are inlined; this package's dependencies stay external, among them the native and
// WebAssembly-carrying ones (better-sqlite3, @node-rs/argon2, @prisma/*), which is why they
// are listed in package.json.
export default defineConfig({
  entry: { server: 'server/index.ts', setup: 'server/setup.ts' },
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outDir: 'dist',
  clean: true,
  noExternal: [/^@berth\//],
  banner: {
    js: "import { createRequire as __berthCreateRequire } from 'node:module'; const require = __berthCreateRequire(import.meta.url);",
  },
});
