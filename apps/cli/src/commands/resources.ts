import type { AgentEventInfo } from '@berth/contracts';
import { Command, Option } from 'commander';
import { actor, clientOf, limitsFrom, parseNumber, printJson, table } from '../client.ts';

// berth volume ..., berth group ..., berth events.

const formatOption = () =>
  new Option('--format <format>', 'output format').choices(['text', 'json']).default('text');

export function volumeCommand(): Command {
  const volume = new Command('volume').description('named volumes (directories kept by the agent)');
  volume
    .command('create')
    .argument('<name>')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      await clientOf(cmd).volume.create.mutate({ name, actor: actor() });
      process.stdout.write(`created volume ${name}\n`);
    });
  volume
    .command('ls')
    .addOption(formatOption())
    .action(async (o: { format: string }, cmd: Command) => {
      const list = await clientOf(cmd).volume.list.query();
      if (o.format === 'json') printJson(list);
      else
        process.stdout.write(
          table(
            ['VOLUME', 'USED BY'],
            list.map((v) => [v.name, v.usedBy.join(',') || '-']),
          ),
        );
    });
  volume
    .command('rm')
    .argument('<name>')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      await clientOf(cmd).volume.delete.mutate({ name, actor: actor() });
      process.stdout.write(`deleted volume ${name}\n`);
    });
  return volume;
}

const withLimits = (c: Command) =>
  c
    .option('--cpus <n>', 'CPUs shared by the group')
    .option('--memory <size>', 'memory shared by the group')
    .option('--pids <n>', 'processes shared by the group')
    .option('--io-weight <n>', 'block I/O weight');

export function groupCommand(): Command {
  const group = new Command('group').description('groups: shared limits for the containers inside');
  withLimits(
    group.command('create').argument('<name>').option('--parent <group>', 'nest inside this group'),
  ).action(
    async (
      name: string,
      o: { parent?: string; cpus?: string; memory?: string; pids?: string },
      cmd: Command,
    ) => {
      await clientOf(cmd).group.create.mutate({
        name,
        ...(o.parent ? { parent: o.parent } : {}),
        limits: limitsFrom(o),
        actor: actor(),
      });
      process.stdout.write(`created group ${name}\n`);
    },
  );
  withLimits(group.command('set').description("change a group's limits (live)").argument('<name>')).action(
    async (name: string, o: { cpus?: string; memory?: string; pids?: string }, cmd: Command) => {
      await clientOf(cmd).group.update.mutate({ name, limits: limitsFrom(o), actor: actor() });
      process.stdout.write(`updated group ${name}\n`);
    },
  );
  group
    .command('ls')
    .addOption(formatOption())
    .action(async (o: { format: string }, cmd: Command) => {
      const list = await clientOf(cmd).group.list.query();
      if (o.format === 'json') printJson(list);
      else
        process.stdout.write(
          table(
            ['GROUP', 'PARENT', 'CONTAINERS', 'MEMORY USED', 'PIDS'],
            list.map((g) => [
              g.name,
              g.parent ?? '-',
              String(g.containers.length),
              g.stats.memoryBytes !== undefined ? String(g.stats.memoryBytes) : '-',
              g.stats.pids !== undefined ? String(g.stats.pids) : '-',
            ]),
          ),
        );
    });
  group
    .command('rm')
    .argument('<name>')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      await clientOf(cmd).group.delete.mutate({ name, actor: actor() });
      process.stdout.write(`deleted group ${name}\n`);
    });
  return group;
}

function eventLine(e: AgentEventInfo): string {
  const data = Object.entries(e.data)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${e.id} ${e.at} ${e.kind}${e.subject ? ` ${e.subject}` : ''}${e.actor ? ` by ${e.actor}` : ''}${data ? ` ${data}` : ''}\n`;
}

export function eventsCommand(): Command {
  return new Command('events')
    .description("the agent's events: kept ones with --since, then live ones with --follow")
    .option('--since <id>', 'events after this id (0: all kept)')
    .option('-f, --follow', 'keep printing new events')
    .option('--subject <name>', 'only events about this container, group or volume')
    .option('--limit <n>', 'at most this many kept events (without --follow)', '1000')
    .addOption(formatOption())
    .action(
      async (
        o: { since?: string; follow?: boolean; subject?: string; limit: string; format: string },
        cmd: Command,
      ) => {
        const print = (e: AgentEventInfo) =>
          process.stdout.write(o.format === 'json' ? `${JSON.stringify(e)}\n` : eventLine(e));
        const client = clientOf(cmd);
        const after = o.since !== undefined ? parseNumber(o.since, 'since') : undefined;
        if (!o.follow) {
          for (const e of await client.event.list.query({
            ...(after !== undefined ? { after } : { after: 0 }),
            ...(o.subject ? { subject: o.subject } : {}),
            limit: parseNumber(o.limit, 'limit'),
          }))
            print(e);
          return;
        }
        await new Promise<void>((resolve, reject) => {
          const sub = client.event.watch.subscribe(
            { ...(after !== undefined ? { after } : {}), ...(o.subject ? { subject: o.subject } : {}) },
            { onData: (e) => print(e.data), onError: reject, onComplete: resolve },
          );
          process.once('SIGINT', () => {
            sub.unsubscribe();
            resolve();
          });
          process.once('SIGTERM', () => {
            sub.unsubscribe();
            resolve();
          });
        });
      },
    );
}
