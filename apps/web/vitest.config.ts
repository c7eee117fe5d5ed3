import { defineConfig, mergeConfig } from 'vitest/config';
import shared from '../../vitest.shared.ts';

// The shared config, plus the custom server's tests (server/ sits beside src/).
export default defineConfig((env) =>
  mergeConfig(shared(env), { test: { include: env.mode === 'root' ? [] : ['server/**/*.test.ts'] } }),
);
