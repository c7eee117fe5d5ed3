import { fileURLToPath } from 'node:url';
import type { NextConfig } from 'next';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

// The panel's pages only. The API (/api/trpc) and websocket upgrades are served by the custom
// server (server/), which holds the database and the agent client: Next never bundles them.
const config: NextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // `pnpm typecheck` (tsc) checks the types; the build on this 2-core VM need not do it twice.
  typescript: { ignoreBuildErrors: true },
  turbopack: { root: repoRoot },
  outputFileTracingRoot: repoRoot,
  images: { unoptimized: true },
};

export default config;
