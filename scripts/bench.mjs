#!/usr/bin/env node
// `pnpm bench <name>`: runs one of the repository's benchmarks, each a script under bench/.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const benchDir = join(root, 'bench');
const names = existsSync(benchDir) ? readdirSync(benchDir).filter((f) => /\.(mjs|ts|sh)$/.test(f)) : [];
const name = process.argv[2];
const file = names.find((f) => f.replace(/\.(mjs|ts|sh)$/, '') === name);
if (!file) {
  console.error(
    `usage: pnpm bench <name>\nbenchmarks: ${names.map((f) => f.replace(/\.(mjs|ts|sh)$/, '')).join(', ') || '(none yet)'}`,
  );
  process.exit(2);
}
const path = join(benchDir, file);
const [cmd, args] = file.endsWith('.sh')
  ? ['bash', [path]]
  : file.endsWith('.ts')
    ? ['pnpm', ['exec', 'tsx', path]]
    : ['node', [path]];
const r = spawnSync(cmd, [...args, ...process.argv.slice(3)], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
