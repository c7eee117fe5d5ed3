import type { NetworkInfo } from '@berth/contracts';
import { Command, Option } from 'commander';
import { actor, clientOf, parseNumber, printJson, table } from '../client.ts';

// berth network create/ls/inspect/rm: bridge networks managed by berthd. Containers join one
// with `berth launch IMAGE NAME --network NAME`.

const formatOption = () =>
  new Option('--format <format>', 'output format').choices(['text', 'json']).default('text');

export function formatNetworks(list: NetworkInfo[]): string {
  return table(
    ['NETWORK', 'SUBNET', 'GATEWAY', 'IPV6', 'ISOLATED', 'MTU', 'CONTAINERS'],
    list.map((n) => [
      n.default ? `${n.name} (default${n.pending ? ', made on first use' : ''})` : n.name,
      n.subnet,
      n.gateway,
      n.subnet6 ?? '-',
      n.isolated ? 'yes' : 'no',
      String(n.mtu),
      String(n.containers.length),
    ]),
  );
}

export function networkCommand(): Command {
  const network = new Command('network').description(
    'bridge networks (containers join one with --network NAME)',
  );
  network
    .command('create')
    .description('create a bridge network')
    .argument('<name>')
    .requiredOption('--subnet <cidr>', "IPv4 subnet, e.g. 10.88.0.0/24 (must not overlap the host's routes)")
    .option('--ipv6 [cidr]', 'IPv6 too: this prefix, or a random ULA /64 when none is given')
    .option('--isolated', 'containers reach only the gateway (and its DNS), not each other')
    .option('--mtu <n>', "MTU (default: the host uplink's)")
    .addOption(formatOption())
    .action(
      async (
        name: string,
        o: { subnet: string; ipv6?: string | true; isolated?: boolean; mtu?: string; format: string },
        cmd: Command,
      ) => {
        const info = await clientOf(cmd).network.create.mutate({
          name,
          subnet: o.subnet,
          ...(o.ipv6 ? { subnet6: o.ipv6 === true ? 'auto' : o.ipv6 } : {}),
          isolated: Boolean(o.isolated),
          ...(o.mtu !== undefined ? { mtu: parseNumber(o.mtu, 'mtu') } : {}),
          actor: actor(),
        });
        if (o.format === 'json') printJson(info);
        else
          process.stdout.write(
            `created network ${info.name} (${info.subnet}${info.subnet6 ? `, ${info.subnet6}` : ''})\n`,
          );
      },
    );
  network
    .command('ls')
    .alias('list')
    .description('list networks')
    .addOption(formatOption())
    .action(async (o: { format: string }, cmd: Command) => {
      const list = await clientOf(cmd).network.list.query();
      if (o.format === 'json') printJson(list);
      else process.stdout.write(formatNetworks(list));
    });
  network
    .command('inspect')
    .description("a network's record and its containers as JSON")
    .argument('<name>')
    .action(async (name: string, _o: unknown, cmd: Command) =>
      printJson(await clientOf(cmd).network.inspect.query({ name })),
    );
  network
    .command('rm')
    .alias('remove')
    .description('remove a network (refused while containers are attached, unless --force)')
    .argument('<names...>')
    .option('-f, --force', 'detach the containers on it first (they keep running without a network)')
    .action(async (names: string[], o: { force?: boolean }, cmd: Command) => {
      const client = clientOf(cmd);
      for (const name of names) {
        const r = await client.network.remove.mutate({ name, force: Boolean(o.force), actor: actor() });
        process.stdout.write(
          `removed network ${name}${r.detached.length ? ` (detached ${r.detached.join(', ')})` : ''}\n`,
        );
      }
    });
  return network;
}
