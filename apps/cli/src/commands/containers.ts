import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import {
  type ContainerConfigInput,
  type ContainerInfo,
  type PublishedPort,
  parsePublish,
  parseRate,
} from '@berth/contracts';
import { Command, Option } from 'commander';
import { actor, clientOf, limitsFrom, parseNumber, printJson, table, UsageError } from '../client.ts';

// Container commands: thin over the agent's container API. Exit status: see `berth --help`;
// `berth exec` exits with the command's own status.

const collect = (value: string, prev: string[] = []) => [...prev, value];

function formatOption() {
  return new Option('--format <format>', 'output format').choices(['text', 'json']).default('text');
}

function addLimitOptions(c: Command): Command {
  return c
    .option('--cpus <n>', 'CPUs (e.g. 1.5)')
    .option('--memory <size>', 'memory limit (e.g. 512M, 2G)')
    .option('--pids <n>', 'maximum number of processes')
    .option('--io-weight <n>', 'block I/O weight (10-1000)');
}

interface CreateOpts {
  name?: string;
  env?: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  system?: boolean;
  terminal?: boolean;
  network?: string;
  publish?: string[];
  rateIn?: string;
  rateOut?: string;
  volume?: string[];
  restart?: string;
  autostart?: boolean;
  autostartOrder?: string;
  autostartDelay?: string;
  label?: string[];
  group?: string;
  privileged?: boolean;
  stopTimeout?: string;
  cpus?: string;
  memory?: string;
  pids?: string;
  ioWeight?: string;
  format: 'text' | 'json';
}

/** -v NAME:/path[:ro] (named volume) or -v /host/path:/path[:ro] (bind mount). */
function parseVolume(spec: string): NonNullable<ContainerConfigInput['volumes']>[number] {
  const parts = spec.split(':');
  if (
    parts.length < 2 ||
    parts.length > 3 ||
    (parts[2] !== undefined && parts[2] !== 'ro' && parts[2] !== 'rw')
  )
    throw new UsageError(`invalid volume: "${spec}" must be SOURCE:TARGET[:ro]`);
  const [source, target, mode] = parts as [string, string, string?];
  return { type: source.startsWith('/') ? 'bind' : 'volume', source, target, readOnly: mode === 'ro' };
}

function configFrom(
  image: string,
  name: string | undefined,
  command: string[],
  o: CreateOpts,
): ContainerConfigInput {
  const labels: Record<string, string> = {};
  for (const l of o.label ?? []) {
    const i = l.indexOf('=');
    if (i <= 0) throw new UsageError(`invalid label: "${l}" must be KEY=VALUE`);
    labels[l.slice(0, i)] = l.slice(i + 1);
  }
  return {
    name: name ?? o.name ?? generatedName(),
    image,
    ...(command.length > 0 ? { command } : {}),
    env: o.env ?? [],
    ...(o.workdir ? { cwd: o.workdir } : {}),
    ...(o.user ? { user: o.user } : {}),
    ...(o.hostname ? { hostname: o.hostname } : {}),
    kind: o.system ? 'system' : 'app',
    ...(o.terminal !== undefined ? { terminal: o.terminal } : {}),
    limits: limitsFrom(o),
    ...(o.network ? { network: o.network } : {}),
    ...(o.publish?.length ? { ports: o.publish.map(publishOf) } : {}),
    ...(o.rateIn || o.rateOut
      ? {
          rateLimit: {
            ...(o.rateIn ? { ingressBps: rateOf(o.rateIn, 'rate-in') } : {}),
            ...(o.rateOut ? { egressBps: rateOf(o.rateOut, 'rate-out') } : {}),
          },
        }
      : {}),
    volumes: (o.volume ?? []).map(parseVolume),
    ...(o.restart ? { restart: o.restart } : {}),
    autostart: Boolean(o.autostart),
    ...(o.autostartOrder !== undefined
      ? { autostartOrder: parseNumber(o.autostartOrder, 'autostart-order') }
      : {}),
    ...(o.autostartDelay !== undefined
      ? { autostartDelayMs: parseNumber(o.autostartDelay, 'autostart-delay') }
      : {}),
    labels,
    ...(o.group ? { group: o.group } : {}),
    privileged: Boolean(o.privileged),
    ...(o.stopTimeout !== undefined ? { stopTimeoutSec: parseNumber(o.stopTimeout, 'stop-timeout') } : {}),
  };
}

function publishOf(spec: string): PublishedPort {
  try {
    return parsePublish(spec);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function rateOf(spec: string, option: string): number {
  try {
    return parseRate(spec);
  } catch (e) {
    throw new UsageError(`--${option}: ${(e as Error).message}`);
  }
}

function generatedName(): string {
  const adjectives = ['calm', 'brisk', 'quiet', 'sunny', 'steady', 'swift', 'bright', 'gentle'];
  const nouns = ['harbor', 'quay', 'jetty', 'mooring', 'anchor', 'wharf', 'pier', 'dock'];
  const pick = (a: string[]) => a[Math.floor(Math.random() * a.length)]!;
  return `${pick(adjectives)}-${pick(nouns)}-${Math.floor(Math.random() * 1000)}`;
}

function createLike(name: 'create' | 'launch', start: boolean): Command {
  const c = new Command(name)
    .description(
      start
        ? 'create a container from an image and start it (pulls the image if needed)'
        : 'create a container (not started)',
    )
    .argument('<image>', 'image reference (busybox: the built-in minimal image)')
    .argument('[name]', 'container name (default: generated)')
    .argument('[command...]', "command to run instead of the image's (after --)")
    .option('-e, --env <KEY=VALUE>', 'environment variable (repeatable)', collect)
    .option('-w, --workdir <dir>', 'working directory')
    .option('-u, --user <user>', 'uid[:gid] or user name')
    .option('--hostname <name>', 'host name (default: the container name)')
    .option('--system', "a system container: the image's init (systemd) as PID 1")
    .option('-t, --terminal', 'run init on a console pty (berth console); system containers always have one')
    .option(
      '--network <mode>',
      'none, bridge (the default network), host, container:<name> or a network name',
    )
    .option(
      '-p, --publish <[hostIP:]hostPort:containerPort[/udp]>',
      'publish a port (bridge networks; repeatable)',
      collect,
    )
    .option('--rate-in <bits/s>', 'limit what the container receives (e.g. 10M; bridge networks)')
    .option('--rate-out <bits/s>', 'limit what the container sends (e.g. 10M; bridge networks)')
    .option(
      '-v, --volume <SOURCE:TARGET[:ro]>',
      'named volume or allowed host directory (repeatable)',
      collect,
    )
    .option('--restart <policy>', 'no, always, unless-stopped, on-failure[:max]')
    .option('--autostart', 'start when berthd starts (host boot)')
    .option('--autostart-order <n>', 'autostart order (lower first)')
    .option('--autostart-delay <ms>', 'pause after autostarting this one')
    .option('-l, --label <KEY=VALUE>', 'label (repeatable)', collect)
    .option('-g, --group <group>', 'group to create the container in')
    .option('--privileged', 'no user namespace (only when the agent allows it)')
    .option('--stop-timeout <sec>', 'seconds between the stop signal and killing')
    .addOption(formatOption());
  addLimitOptions(c);
  return c.action(
    async (image: string, cname: string | undefined, command: string[], o: CreateOpts, cmd: Command) => {
      const info = await clientOf(cmd).container.create.mutate({
        config: configFrom(image, cname, command, o) as never,
        start,
        actor: actor(),
      });
      if (o.format === 'json') printJson(info);
      else process.stdout.write(`${start ? 'launched' : 'created'} ${info.name}\n`);
    },
  );
}

function simple(
  name: string,
  description: string,
  call: (client: ReturnType<typeof clientOf>, container: string, cmd: Command) => Promise<unknown>,
  done: string,
): Command {
  return new Command(name)
    .description(description)
    .argument('<names...>', 'container names')
    .action(async (names: string[], _o: unknown, cmd: Command) => {
      const client = clientOf(cmd);
      for (const n of names) {
        await call(client, n, cmd);
        process.stdout.write(`${done} ${n}\n`);
      }
    });
}

function ago(iso: string | null): string {
  if (!iso) return '-';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

/** NETWORK: the network and addresses while attached, else the mode (none, host, container:…). */
export function networkColumn(c: ContainerInfo): string {
  const n = c.network;
  if (!n) return c.config.network;
  return [n.network, n.ip, ...(n.ip6 ? [n.ip6] : [])].join(' ');
}

/** PORTS: hostAddress:hostPort->containerPort/protocol, comma-separated. */
export function portsColumn(c: ContainerInfo): string {
  const ports = c.network?.ports ?? c.config.ports;
  return (
    ports.map((p) => `${p.hostAddress}:${p.hostPort}->${p.containerPort}/${p.protocol}`).join(',') || '-'
  );
}

export function formatContainers(list: ContainerInfo[]): string {
  return table(
    ['NAME', 'STATE', 'IMAGE', 'PID', 'GROUP', 'NETWORK', 'PORTS', 'CREATED'],
    list.map((c) => [
      c.name,
      c.state === 'stopped' && c.exitCode !== null ? `stopped (${c.exitCode})` : c.state,
      c.image,
      c.pid !== undefined ? String(c.pid) : '-',
      c.group ?? '-',
      networkColumn(c),
      portsColumn(c),
      ago(c.createdAt),
    ]),
  );
}

export function containerCommands(): Command[] {
  const ls = new Command('ls')
    .alias('list')
    .description('list containers')
    .addOption(formatOption())
    .action(async (o: { format: string }, cmd: Command) => {
      const list = await clientOf(cmd).container.list.query();
      if (o.format === 'json') printJson(list);
      else process.stdout.write(formatContainers(list));
    });

  const inspect = new Command('inspect')
    .description("a container's record as JSON")
    .argument('<name>')
    .action(async (name: string, _o: unknown, cmd: Command) =>
      printJson(await clientOf(cmd).container.inspect.query({ name })),
    );

  const start = simple(
    'start',
    'start containers',
    (c, name) => c.container.start.mutate({ name, actor: actor() }),
    'started',
  );
  const stop = new Command('stop')
    .description('stop containers: the stop signal, then everything killed after the timeout')
    .argument('<names...>')
    .option('-t, --timeout <sec>', 'seconds before killing')
    .action(async (names: string[], o: { timeout?: string }, cmd: Command) => {
      const client = clientOf(cmd);
      for (const name of names) {
        await client.container.stop.mutate({
          name,
          actor: actor(),
          ...(o.timeout !== undefined ? { timeoutSec: parseNumber(o.timeout, 'timeout') } : {}),
        });
        process.stdout.write(`stopped ${name}\n`);
      }
    });
  const restart = simple(
    'restart',
    'restart containers',
    (c, name) => c.container.restart.mutate({ name, actor: actor() }),
    'restarted',
  );
  const freeze = simple(
    'freeze',
    'freeze every process of containers',
    (c, name) => c.container.freeze.mutate({ name, actor: actor() }),
    'froze',
  );
  const unfreeze = simple(
    'unfreeze',
    'thaw frozen containers',
    (c, name) => c.container.unfreeze.mutate({ name, actor: actor() }),
    'thawed',
  );
  const rm = new Command('rm')
    .alias('delete')
    .description('delete containers (refuses a running one unless --force)')
    .argument('<names...>')
    .option('-f, --force', 'stop and delete a running container')
    .action(async (names: string[], o: { force?: boolean }, cmd: Command) => {
      const client = clientOf(cmd);
      for (const name of names) {
        await client.container.delete.mutate({ name, force: Boolean(o.force), actor: actor() });
        process.stdout.write(`deleted ${name}\n`);
      }
    });
  const kill = new Command('kill')
    .description('send a signal to every process of a container')
    .argument('<name>')
    .option('-s, --signal <signal>', 'signal name or number', 'SIGKILL')
    .action(async (name: string, o: { signal: string }, cmd: Command) => {
      const signal = /^\d+$/.test(o.signal) ? Number(o.signal) : o.signal.toUpperCase();
      await clientOf(cmd).container.kill.mutate({ name, signal, actor: actor() });
    });
  const rename = new Command('rename')
    .description('rename a container')
    .argument('<name>')
    .argument('<new-name>')
    .action(async (name: string, newName: string, _o: unknown, cmd: Command) => {
      await clientOf(cmd).container.rename.mutate({ name, newName, actor: actor() });
      process.stdout.write(`renamed ${name} to ${newName}\n`);
    });
  const limits = addLimitOptions(
    new Command('limits').description("change a container's limits (live when it runs)").argument('<name>'),
  )
    .addOption(formatOption())
    .action(async (name: string, o: CreateOpts, cmd: Command) => {
      const l = limitsFrom(o);
      const client = clientOf(cmd);
      const info =
        Object.keys(l).length > 0
          ? await client.container.limits.mutate({ name, limits: l, actor: actor() })
          : await client.container.inspect.query({ name });
      if (o.format === 'json') printJson(info.config.limits);
      else {
        const x = info.config.limits;
        process.stdout.write(
          `cpus ${x.cpus ?? 'unlimited'}\nmemory ${x.memoryBytes ?? 'unlimited'}\npids ${x.pids ?? 'unlimited'}\nio-weight ${x.ioWeight ?? 'default'}\n`,
        );
      }
    });

  const exec = new Command('exec')
    .description('run a command in a running container: berth exec NAME -- CMD ARGS (exits with its status)')
    .argument('<name>')
    .argument('<command...>')
    .option('-e, --env <KEY=VALUE>', 'environment variable (repeatable)', collect)
    .option('-w, --workdir <dir>', 'working directory')
    .option('-u, --user <user>', 'uid[:gid] or user name')
    .option('-i, --stdin', "send this command's stdin to it")
    .action(
      async (
        name: string,
        command: string[],
        o: { env?: string[]; workdir?: string; user?: string; stdin?: boolean },
        cmd: Command,
      ) => {
        const stdin = o.stdin ? readFileSync(0) : undefined;
        const code = await new Promise<number>((resolve, reject) => {
          const sub = clientOf(cmd).container.exec.subscribe(
            {
              name,
              command,
              env: o.env ?? [],
              ...(o.workdir ? { cwd: o.workdir } : {}),
              ...(o.user ? { user: o.user } : {}),
              ...(stdin ? { stdinBase64: stdin.toString('base64') } : {}),
              actor: actor(),
            },
            {
              onData(out) {
                if ('exitCode' in out) {
                  sub.unsubscribe();
                  resolve(out.exitCode);
                } else
                  (out.stream === 'stdout' ? process.stdout : process.stderr).write(
                    Buffer.from(out.dataBase64, 'base64'),
                  );
              },
              onError: reject,
            },
          );
        });
        process.exitCode = code;
      },
    );

  const logs = new Command('logs')
    .description("a container's output")
    .argument('<name>')
    .option('-f, --follow', 'keep printing new output')
    .option('-n, --tail <lines>', 'only the last lines')
    .action(async (name: string, o: { follow?: boolean; tail?: string }, cmd: Command) => {
      await new Promise<void>((resolve, reject) => {
        const sub = clientOf(cmd).container.logs.subscribe(
          {
            name,
            follow: Boolean(o.follow),
            ...(o.tail !== undefined ? { tail: parseNumber(o.tail, 'tail') } : {}),
          },
          {
            onData: (d) => process.stdout.write(Buffer.from(d.dataBase64, 'base64')),
            onError: reject,
            onComplete: resolve,
            onStopped: resolve,
          },
        );
        process.once('SIGINT', () => {
          sub.unsubscribe();
          resolve();
        });
      });
    });

  const snapshot = new Command('snapshot').description(
    "snapshots of a container's files (a running one is frozen for the moment of the copy)",
  );
  snapshot
    .command('create')
    .argument('<name>')
    .argument('<snapshot>')
    .action(async (name: string, snap: string, _o: unknown, cmd: Command) => {
      await clientOf(cmd).container.snapshot.create.mutate({ name, snapshot: snap, actor: actor() });
      process.stdout.write(`snapshot ${snap} of ${name} created\n`);
    });
  snapshot
    .command('ls')
    .argument('<name>')
    .addOption(formatOption())
    .action(async (name: string, o: { format: string }, cmd: Command) => {
      const list = await clientOf(cmd).container.snapshot.list.query({ name });
      if (o.format === 'json') printJson(list);
      else
        process.stdout.write(
          table(
            ['SNAPSHOT', 'CREATED'],
            list.map((s) => [s.name, s.createdAt]),
          ),
        );
    });
  snapshot
    .command('rm')
    .argument('<name>')
    .argument('<snapshot>')
    .action(async (name: string, snap: string, _o: unknown, cmd: Command) => {
      await clientOf(cmd).container.snapshot.delete.mutate({ name, snapshot: snap, actor: actor() });
      process.stdout.write(`snapshot ${snap} of ${name} deleted\n`);
    });
  const restore = new Command('restore')
    .description("put a stopped container's files back as they were in a snapshot")
    .argument('<name>')
    .argument('<snapshot>')
    .action(async (name: string, snap: string, _o: unknown, cmd: Command) => {
      await clientOf(cmd).container.snapshot.restore.mutate({ name, snapshot: snap, actor: actor() });
      process.stdout.write(`restored ${name} to ${snap}\n`);
    });
  const clone = new Command('clone')
    .description(
      'a new container with the config and files of another (frozen for the copy if it runs) or of its snapshot',
    )
    .argument('<name>')
    .argument('<new-name>')
    .option('--snapshot <snapshot>', 'clone from this snapshot')
    .action(async (name: string, newName: string, o: { snapshot?: string }, cmd: Command) => {
      await clientOf(cmd).container.clone.mutate({
        name,
        newName,
        actor: actor(),
        ...(o.snapshot ? { snapshot: o.snapshot } : {}),
      });
      process.stdout.write(`cloned ${name} to ${newName}\n`);
    });

  const push = new Command('push')
    .description(
      'copy a local file into a container: berth push FILE NAME:/path (-r: a directory, with its modes and owners)',
    )
    .argument('<file>', "local file ('-': stdin) or, with -r, directory")
    .argument('<target>', 'NAME:/path')
    .option('-r, --recursive', 'copy a directory (its files keep their modes; owners as below)')
    .option('--mode <octal>', 'file mode', '644')
    .option('--uid <uid>', 'owner inside the container (default: 0; -r: each file keeps its own)')
    .option('--gid <gid>', 'group inside the container (default: 0; -r: each file keeps its own)')
    .action(
      async (
        file: string,
        target: string,
        o: { recursive?: boolean; mode: string; uid?: string; gid?: string },
        cmd: Command,
      ) => {
        const [name, path] = splitTarget(target);
        const uid = o.uid !== undefined ? parseNumber(o.uid, 'uid') : undefined;
        const gid = o.gid !== undefined ? parseNumber(o.gid, 'gid') : undefined;
        if (o.recursive) {
          if (!statSync(file, { throwIfNoEntry: false })?.isDirectory())
            throw new UsageError(`invalid file: ${file} is not a directory (-r copies a directory)`);
          const data = await tarOf(file, uid, gid);
          await clientOf(cmd).container.push.mutate({
            name,
            path,
            dataBase64: data.toString('base64'),
            tar: true,
            actor: actor(),
          });
          return;
        }
        const data = file === '-' ? readFileSync(0) : readFileSync(file);
        await clientOf(cmd).container.push.mutate({
          name,
          path,
          dataBase64: data.toString('base64'),
          mode: Number.parseInt(o.mode, 8),
          uid: uid ?? 0,
          gid: gid ?? 0,
          actor: actor(),
        });
      },
    );
  const pull = new Command('pull')
    .description(
      'copy a file out of a container: berth pull NAME:/path FILE (a directory comes as a tar, or with -r into a local directory)',
    )
    .argument('<source>', 'NAME:/path')
    .argument('[file]', 'local file (default: stdout) or, with -r, directory')
    .option('-r, --recursive', 'unpack a directory into the local directory FILE (made if missing)')
    .action(async (source: string, file: string | undefined, o: { recursive?: boolean }, cmd: Command) => {
      const [name, path] = splitTarget(source);
      if (o.recursive && (!file || file === '-'))
        throw new UsageError('invalid file: -r needs a local directory to unpack into');
      const r = await clientOf(cmd).container.pull.query({ name, path });
      const data = Buffer.from(r.dataBase64, 'base64');
      if (o.recursive && file) {
        if (r.kind !== 'directory')
          throw new UsageError(`invalid source: ${path} is a file, not a directory`);
        mkdirSync(file, { recursive: true });
        await untar(data, file);
      } else if (!file || file === '-') process.stdout.write(data);
      else writeFileSync(file, data, { mode: r.kind === 'file' ? r.mode : 0o644 });
    });

  return [
    createLike('launch', true),
    createLike('create', false),
    ls,
    inspect,
    start,
    stop,
    restart,
    kill,
    rm,
    rename,
    freeze,
    unfreeze,
    limits,
    exec,
    logs,
    snapshot,
    restore,
    clone,
    push,
    pull,
  ];
}

function splitTarget(t: string): [string, string] {
  const i = t.indexOf(':');
  if (i <= 0 || !t.slice(i + 1).startsWith('/'))
    throw new UsageError(`invalid path: "${t}" must be NAME:/absolute/path`);
  return [t.slice(0, i), t.slice(i + 1)];
}

/** A tar of a local directory (GNU tar): modes kept, owners numeric (or the ones given). */
function tarOf(dir: string, uid: number | undefined, gid: number | undefined): Promise<Buffer> {
  return runTar(
    [
      '-C',
      dir,
      '--numeric-owner',
      ...(uid !== undefined ? [`--owner=${uid}`] : []),
      ...(gid !== undefined ? [`--group=${gid}`] : []),
      '-cf',
      '-',
      '.',
    ],
    undefined,
  );
}

/** Unpacks a tar into `dir` (owners kept when run as root, as tar does). */
async function untar(data: Buffer, dir: string): Promise<void> {
  await runTar(['-C', dir, '--numeric-owner', '-xpf', '-'], data);
}

function runTar(args: string[], input: Buffer | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const t = spawn('tar', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    t.stdout.on('data', (b: Buffer) => out.push(b));
    t.stderr.on('data', (b: Buffer) => {
      err += b;
    });
    t.once('error', (e) => reject(new Error(`tar: ${e.message}`)));
    t.once('close', (code) =>
      code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`tar: ${err.trim() || `exit ${code}`}`)),
    );
    t.stdin.end(input);
  });
}
