import { createAgentClient } from '@berth/agent/client';
import type { MetricsSample, MetricsTick } from '@berth/contracts';
import { Command, Option } from 'commander';
import { printJson } from '../output/json.ts';
import { table } from '../output/table.ts';
import { bytes } from '../output/units.ts';
import type { GlobalOptions } from '../program.ts';
import { followSubscription } from '../subscribe.ts';

// `berth stats`: live resource use of the host, containers and groups, like top. On a
// terminal the table is redrawn every second; elsewhere one table per second; JSON as one
// document per tick (--no-stream: a single snapshot, then exit).

export function statsCommand(): Command {
  return new Command('stats')
    .description('live CPU, memory, network, block I/O, pids and pressure of the host and containers')
    .argument('[targets...]', 'container names or ids, "host", "group:<name>" (default: all)')
    .option('--no-stream', 'print one snapshot and exit')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (targets: string[], opts: { stream: boolean; format: string }, cmd: Command) => {
      const { socket } = cmd.optsWithGlobals<GlobalOptions>();
      const client = createAgentClient({ socketPath: socket });
      const input = targets.length > 0 ? { targets } : {};
      const tty = process.stdout.isTTY === true && opts.format === 'text';
      const show = (tick: MetricsTick) => {
        if (opts.format === 'json') {
          if (opts.stream) process.stdout.write(`${JSON.stringify(tick)}\n`);
          else printJson(tick);
          return;
        }
        const text = formatStats(tick.samples);
        // On a terminal: home, the table, clear what is left of an earlier, longer one.
        process.stdout.write(tty ? `\x1b[H${text.replace(/\n/g, '\x1b[K\n')}\x1b[J` : `${text}\n`);
      };
      if (!opts.stream) {
        const tick = await client.metrics.current.query(input);
        if (targets.length > 0 && tick.samples.length === 0)
          throw new Error(`no metrics for ${targets.join(', ')}`);
        show(tick);
        return;
      }
      if (tty) process.stdout.write('\x1b[2J');
      await followSubscription<MetricsTick>(client.metrics.watch, input, socket, show, 'end');
    });
}

const pct = (v: number) => `${v.toFixed(1)}%`;
const rate = (bps: number) => `${bytes(Math.round(bps))}/s`;
const psi = (v: number | null) => (v === null ? '-' : v.toFixed(0));

export function formatStats(samples: MetricsSample[]): string {
  const order = (s: MetricsSample) => (s.target === 'host' ? 0 : s.target.startsWith('group:') ? 1 : 2);
  const rows = [...samples]
    .sort((a, b) => order(a) - order(b) || a.name.localeCompare(b.name))
    .map((s) => [
      s.target.startsWith('group:') ? s.target : s.name,
      pct(s.cpuPercent),
      `${bytes(s.memoryBytes)} / ${s.memoryLimitBytes === null ? '-' : bytes(s.memoryLimitBytes)}`,
      s.memoryLimitBytes ? pct((s.memoryBytes / s.memoryLimitBytes) * 100) : '-',
      `${rate(s.netRxBps)} / ${rate(s.netTxBps)}`,
      `${rate(s.blockReadBps)} / ${rate(s.blockWriteBps)}`,
      String(s.pids),
      `${psi(s.psi.cpu)} ${psi(s.psi.memory)} ${psi(s.psi.io)}`,
    ]);
  return table(
    ['NAME', 'CPU', 'MEM USAGE / LIMIT', 'MEM', 'NET RX / TX', 'BLOCK R / W', 'PIDS', 'PSI cpu mem io'],
    rows,
  );
}
