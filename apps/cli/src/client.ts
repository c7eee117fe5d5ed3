import { userInfo } from 'node:os';
import { type AgentClient, createAgentClient } from '@berth/agent/client';
import type { Limits } from '@berth/contracts';
import type { Command } from 'commander';
import type { GlobalOptions } from './program.ts';

/** The agent client for a command, from the global --socket. */
export function clientOf(cmd: Command): AgentClient {
  const { socket } = cmd.optsWithGlobals<GlobalOptions>();
  return createAgentClient({ socketPath: socket });
}

/** Who is asking, for the agent's event log. */
export function actor(): string {
  let name: string;
  try {
    name = userInfo().username;
  } catch {
    name = String(process.getuid?.() ?? 'unknown');
  }
  return `cli:${name}`;
}

/** "2G", "512M", "1048576", "1.5GiB" → bytes. */
export function parseBytes(value: string, field: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(i?b)?$/i.exec(value.trim());
  if (!m) throw new UsageError(`invalid ${field}: "${value}" is not a size (e.g. 512M, 2G)`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k'];
  return Math.round(Number(m[1]) * unit!);
}

export function parseNumber(value: string, field: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n))
    throw new UsageError(`invalid ${field}: "${value}" is not a number`);
  return n;
}

/** A usage error found by the CLI itself (exit status 2). */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Rows as aligned columns under a header. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

/** --cpus/--memory/--pids/--io-weight → Limits (only the options given). */
export function limitsFrom(o: { cpus?: string; memory?: string; pids?: string; ioWeight?: string }): Limits {
  return {
    ...(o.cpus !== undefined ? { cpus: parseNumber(o.cpus, 'cpus') } : {}),
    ...(o.memory !== undefined ? { memoryBytes: parseBytes(o.memory, 'memory') } : {}),
    ...(o.pids !== undefined ? { pids: parseNumber(o.pids, 'pids') } : {}),
    ...(o.ioWeight !== undefined ? { ioWeight: parseNumber(o.ioWeight, 'io-weight') } : {}),
  };
}
