import { appendFileSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { LinuxResources } from '../cgroup/resources.ts';
import { RuntimeError } from '../container/errors.ts';
import { attach } from '../container/monitor-client.ts';
import { Runtime } from '../container/runtime.ts';
import { StateDir } from '../container/state.ts';
import { type OciConfig, type ProcessSpec, parseConfig, processSchema } from '../spec/config.ts';
import { defaultConfig, rootlessConfig } from '../spec/defaults.ts';
import { type FlagSpec, parseFlags, UsageError } from './args.ts';
import { features, OCI_VERSION_MAX } from './features.ts';

// `berth-runtime`: the OCI runtime command line, following runc's conventions so tools
// written for runc or crun drive it unchanged. Thin: every verb calls the library.

const USAGE = `usage: berth-runtime [--root DIR] [--log FILE] [--log-format text|json] [--rootless true|false|auto]
                     COMMAND [ARGS]
commands:
  create [--bundle DIR] [--pid-file F] [--console-socket SOCK] [--preserve-fds N] ID
  start ID                 state ID                   kill [--all] ID [SIGNAL]
  delete [--force] ID      list [--format table|json] [--quiet]   ps [--format table|json] ID
  run [--bundle DIR] [--pid-file F] [--console-socket SOCK] [--preserve-fds N] [--detach] [--keep] ID
  exec [--process F] [--tty] [--console-socket SOCK] [--pid-file F] [--detach] [--preserve-fds N]
       [--cwd DIR] [--env K=V]... [--user UID[:GID]] ID [COMMAND ARGS...]
  pause ID                 resume ID
  update [--resources F|-] [--memory N] [--memory-swap N] [--pids-limit N] [--cpu-quota N]
         [--cpu-period N] [--cpu-shares N] [--cpuset-cpus S] [--cpuset-mems S] ID
  spec [--bundle DIR] [--stdout] [--rootless]   Berth's secure default config.json (--rootless:
                           mapping only the caller's own uid and gid, no cgroup limits)
  features                 the runtime-spec features document (JSON)`;

const VERSION = '0.1.0';

const GLOBAL: FlagSpec = {
  values: ['--root', '--log', '--log-format', '--criu', '--rootless'],
  booleans: ['--debug', '--systemd-cgroup', '--help', '-h', '--version', '-v'],
};

interface Global {
  root: string;
  log?: string;
  json: boolean;
  rootless: boolean;
}

/** runc's --rootless true|false|auto; auto (the default) means "not run by root". */
function rootlessMode(flag: unknown): boolean {
  if (flag === undefined || flag === 'auto') return process.geteuid!() !== 0;
  if (flag === 'true' || flag === 'false') return flag === 'true';
  throw new UsageError(`--rootless: "${flag}" is not one of true, false, auto`);
}

/** As runc: /run/… for root, the user's runtime dir (or a private dir in /tmp) otherwise. */
function defaultRoot(rootless: boolean): string {
  if (!rootless) return '/run/berth-runtime';
  const uid = process.geteuid!();
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (xdg) return join(xdg, 'berth-runtime');
  const dir = join(tmpdir(), `berth-runtime-${uid}`);
  if (existsSync(dir) && statSync(dir).uid !== uid)
    throw new UsageError(`${dir} belongs to another user: pass --root`);
  return dir;
}

function logError(g: Global, msg: string): void {
  if (!g.log) return;
  const line = g.json
    ? `${JSON.stringify({ level: 'error', msg, time: new Date().toISOString() })}\n`
    : `time="${new Date().toISOString()}" level=error msg=${JSON.stringify(msg)}\n`; // logrus text, as runc
  try {
    appendFileSync(g.log, line);
  } catch {
    // the log is best effort; stderr has the message
  }
}

function one(positionals: string[], what = 'container id'): string {
  if (positionals.length !== 1) throw new UsageError(`expected exactly one ${what}`);
  return positionals[0]!;
}

export async function cli(argv: string[]): Promise<number> {
  const g0 = parseFlags(argv, GLOBAL, true);
  if (g0.flags.help || g0.flags.h) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (g0.flags.version || g0.flags.v) {
    process.stdout.write(`berth-runtime version ${VERSION}\nspec: ${OCI_VERSION_MAX}\n`);
    return 0;
  }
  let g: Global = { root: '', log: g0.flags.log as string | undefined, json: false, rootless: false };
  try {
    const rootless = rootlessMode(g0.flags.rootless);
    g = {
      root: resolve((g0.flags.root as string) ?? defaultRoot(rootless)),
      log: g0.flags.log as string | undefined,
      json: g0.flags['log-format'] === 'json',
      rootless,
    };
  } catch (e) {
    process.stderr.write(`berth-runtime: ${(e as Error).message}\n`);
    return 1;
  }
  const [cmd, ...rest] = g0.rest;
  if (!cmd) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  try {
    const format = g0.flags['log-format'];
    if (format !== undefined && format !== 'text' && format !== 'json')
      throw new UsageError(`--log-format: "${format}" is not one of text, json`);
    return await dispatch(g, cmd, rest);
  } catch (e) {
    const msg = (e as Error).message;
    logError(g, msg);
    process.stderr.write(`berth-runtime ${cmd}: ${msg}\n`);
    if (e instanceof UsageError) process.stderr.write(`${USAGE}\n`);
    return 1;
  }
}

const CREATE: FlagSpec = {
  values: ['--bundle', '--pid-file', '--console-socket', '--preserve-fds'],
  booleans: ['--no-pivot', '--no-new-keyring', '--detach', '--keep', '--rm'],
  aliases: { '-b': 'bundle', '-d': 'detach' },
};

function preserveFdsFlag(flags: Record<string, unknown>): number {
  const v = flags['preserve-fds'];
  if (v === undefined) return 0;
  if (typeof v !== 'string' || !/^\d+$/.test(v))
    throw new UsageError(`--preserve-fds: "${v}" is not a count of file descriptors`);
  return Number(v);
}

/**
 * What create and run hand to the container's init, as runc does: fds passed by systemd
 * socket activation (LISTEN_FDS, when LISTEN_PID is us) first, with LISTEN_FDS and
 * LISTEN_PID=1 in init's environment, then --preserve-fds more.
 */
function createOptions(flags: Record<string, unknown>) {
  const bundle = resolve((flags.bundle as string) ?? process.cwd());
  const listen =
    process.env.LISTEN_FDS && Number(process.env.LISTEN_PID) === process.pid
      ? Number(process.env.LISTEN_FDS)
      : 0;
  let config: OciConfig | undefined;
  if (listen > 0) {
    config = parseConfig(JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')));
    if (config.process)
      config.process.env = [...(config.process.env ?? []), `LISTEN_FDS=${listen}`, 'LISTEN_PID=1'];
  }
  return {
    bundle,
    config,
    pidFile: flags['pid-file'] as string | undefined,
    consoleSocket: flags['console-socket'] as string | undefined,
    preserveFds: (Number.isInteger(listen) && listen > 0 ? listen : 0) + preserveFdsFlag(flags),
  };
}

async function dispatch(g: Global, cmd: string, argv: string[]): Promise<number> {
  const rt = new Runtime({ root: g.root, rootless: g.rootless });
  switch (cmd) {
    case 'create': {
      const { flags, positionals } = parseFlags(argv, CREATE);
      const id = one(positionals);
      await rt.create(id, createOptions(flags));
      return 0;
    }
    case 'start':
      await rt.start(one(parseFlags(argv, { values: [], booleans: [] }).positionals));
      return 0;
    case 'state':
      process.stdout.write(
        `${JSON.stringify(stateOf(rt, one(parseFlags(argv, { values: [], booleans: [] }).positionals)), null, 2)}\n`,
      );
      return 0;
    case 'features':
      parseFlags(argv, { values: [], booleans: [] });
      process.stdout.write(`${JSON.stringify(features(VERSION), null, 2)}\n`);
      return 0;
    case 'list': {
      const { flags } = parseFlags(argv, {
        values: ['--format'],
        booleans: ['--quiet'],
        aliases: { '-f': 'format', '-q': 'quiet' },
      });
      const format = flags.format ?? 'table';
      if (format !== 'table' && format !== 'json')
        throw new UsageError(`--format: "${format}" is not one of table, json`);
      const states = rt.list();
      if (flags.quiet) process.stdout.write(states.map((s) => `${s.id}\n`).join(''));
      else if (format === 'json')
        process.stdout.write(`${JSON.stringify(states.map((s) => stateOf(rt, s.id)))}\n`);
      else
        process.stdout.write(
          `${[
            'ID\tPID\tSTATUS\tBUNDLE',
            ...states.map((s) => `${s.id}\t${s.pid ?? 0}\t${s.status}\t${s.bundle}`),
          ].join('\n')}\n`,
        );
      return 0;
    }
    case 'kill': {
      const { flags, positionals } = parseFlags(argv, {
        values: [],
        booleans: ['--all'],
        aliases: { '-a': 'all' },
      });
      if (positionals.length < 1 || positionals.length > 2) throw new UsageError('kill takes ID [SIGNAL]');
      await rt.kill(positionals[0]!, positionals[1], flags.all === true);
      return 0;
    }
    case 'delete': {
      const { flags, positionals } = parseFlags(argv, {
        values: [],
        booleans: ['--force'],
        aliases: { '-f': 'force' },
      });
      const id = one(positionals);
      try {
        await rt.delete(id, flags.force === true);
      } catch (e) {
        // runc: --force on a container that does not exist (or never got its state written
        // by an aborted create) cleans up what is there and succeeds; cleanup tools rely on it.
        if (!(flags.force && e instanceof RuntimeError && e.code === 'NOT_FOUND')) throw e;
        rmSync(join(g.root, id), { recursive: true, force: true });
      }
      return 0;
    }
    case 'run':
      return run(rt, argv);
    case 'exec':
      return exec(rt, g, argv);
    case 'ps': {
      const { flags, positionals } = parseFlags(argv, {
        values: ['--format'],
        booleans: [],
        aliases: { '-f': 'format' },
      });
      const pids = await rt.ps(one(positionals));
      if (flags.format === 'json') process.stdout.write(`${JSON.stringify(pids)}\n`);
      else process.stdout.write(`PID\n${pids.join('\n')}\n`);
      return 0;
    }
    case 'pause':
      await rt.pause(one(parseFlags(argv, { values: [], booleans: [] }).positionals));
      return 0;
    case 'resume':
      await rt.resume(one(parseFlags(argv, { values: [], booleans: [] }).positionals));
      return 0;
    case 'update':
      return update(rt, argv);
    case 'spec': {
      const { flags } = parseFlags(argv, {
        values: ['--bundle'],
        booleans: ['--stdout', '--rootless'],
        aliases: { '-b': 'bundle' },
      });
      const config = flags.rootless
        ? rootlessConfig(
            defaultConfig({ userns: { hostId: 0, size: 1 } }),
            process.geteuid!(),
            process.getegid!(),
          )
        : defaultConfig();
      const text = `${JSON.stringify(config, null, 2)}\n`;
      if (flags.stdout) {
        process.stdout.write(text);
        return 0;
      }
      const file = join((flags.bundle as string) ?? process.cwd(), 'config.json');
      if (existsSync(file)) throw new Error(`${file} already exists`);
      writeFileSync(file, text);
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${cmd}"`);
  }
}

/**
 * The spec's state plus what runc's `state` prints and tools read (rootfs, created, owner);
 * pid 0 once stopped, as runc prints it.
 */
function stateOf(rt: Runtime, id: string): Record<string, unknown> {
  const s = rt.state(id);
  const dir = new StateDir(join(rt.opts.root, id));
  const rec = dir.read();
  let rootfs = '';
  try {
    const root = dir.readConfig().root.path;
    rootfs = isAbsolute(root) ? root : join(rec.bundle, root);
  } catch {
    // a container being created has no config yet
  }
  return { ...s, pid: s.pid ?? 0, rootfs, created: rec.created, owner: '' };
}

async function relay(sock: string): Promise<void> {
  const a = await attach(sock);
  const stdin = process.stdin;
  const tty = stdin.isTTY;
  if (tty) stdin.setRawMode(true);
  const size = () => process.stdout.isTTY && a.resize(process.stdout.rows, process.stdout.columns);
  size();
  process.on('SIGWINCH', size);
  stdin.on('data', (d: Buffer) => a.write(d));
  a.socket.on('data', (d: Buffer) => process.stdout.write(d));
  await new Promise<void>((r) => a.socket.on('close', () => r()));
  if (tty) stdin.setRawMode(false);
  stdin.pause();
  process.off('SIGWINCH', size);
}

async function run(rt: Runtime, argv: string[]): Promise<number> {
  const { flags, positionals } = parseFlags(argv, CREATE);
  const id = one(positionals);
  const opts = createOptions(flags);
  if (flags.detach) {
    await rt.create(id, opts);
    await rt.start(id);
    return 0;
  }
  await rt.create(id, opts);
  const config = parseConfig(JSON.parse(readFileSync(join(rt.opts.root, id, 'config.json'), 'utf8')));
  const waiting = rt.wait(id);
  const relaying =
    config.process?.terminal && !opts.consoleSocket
      ? relay(join(rt.opts.root, id, 'monitor.sock'))
      : undefined;
  try {
    await rt.start(id);
  } catch (e) {
    await rt.delete(id, true).catch(() => {});
    throw e;
  }
  const exit = await waiting;
  await relaying;
  if (!flags.keep) await rt.delete(id, true);
  return exit.signal ? 128 + exit.signal : exit.code;
}

const EXEC: FlagSpec = {
  values: [
    '--process',
    '--console-socket',
    '--pid-file',
    '--cwd',
    '--env',
    '--user',
    '--cap',
    '--preserve-fds',
  ],
  booleans: ['--tty', '--detach', '--no-new-privs'],
  repeat: ['--env', '--cap'],
  aliases: { '-p': 'process', '-t': 'tty', '-d': 'detach', '-e': 'env', '-u': 'user', '-c': 'cap' },
};

async function exec(rt: Runtime, g: Global, argv: string[]): Promise<number> {
  const { flags, rest } = parseFlags(argv, EXEC, true);
  const [id, ...command] = rest;
  if (!id) throw new UsageError('exec needs a container id');
  const dir = join(g.root, id);
  const config = parseConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')));
  let proc: ProcessSpec;
  if (flags.process) {
    proc = processSchema.parse(JSON.parse(readFileSync(flags.process as string, 'utf8')));
  } else {
    if (!command.length) throw new UsageError('exec needs a command or --process');
    const base = config.process!;
    const [uid, gid] = ((flags.user as string) ?? '').split(':');
    proc = {
      ...base,
      args: command,
      terminal: flags.tty === true,
      cwd: (flags.cwd as string) ?? base.cwd,
      env: [...(base.env ?? []), ...((flags.env as string[]) ?? [])],
      user: flags.user ? { uid: Number(uid), gid: Number(gid ?? 0) } : base.user,
    };
    if (flags.cap && proc.capabilities) {
      const caps = flags.cap as string[];
      const c = proc.capabilities;
      proc.capabilities = {
        ...c,
        bounding: [...(c.bounding ?? []), ...caps],
        effective: [...(c.effective ?? []), ...caps],
        permitted: [...(c.permitted ?? []), ...caps],
      };
    }
  }
  const attachSocket =
    proc.terminal && !flags['console-socket'] ? join(dir, `exec-${process.pid}.sock`) : undefined;
  const r = await rt.exec(id, {
    process: proc,
    consoleSocket: flags['console-socket'] as string | undefined,
    attachSocket,
    pidFile: flags['pid-file'] as string | undefined,
    preserveFds: preserveFdsFlag(flags),
  });
  if (flags.detach) return 0;
  if (attachSocket) {
    await relay(attachSocket);
    // In a user namespace the session is the namespace's root by now and cannot remove it.
    await r.exit.catch(() => {});
    rmSync(attachSocket, { force: true });
  }
  return r.exit;
}

async function update(rt: Runtime, argv: string[]): Promise<number> {
  const { flags, positionals } = parseFlags(argv, {
    values: [
      '--resources',
      '--memory',
      '--memory-swap',
      '--memory-reservation',
      '--pids-limit',
      '--cpu-quota',
      '--cpu-period',
      '--cpu-shares',
      '--cpuset-cpus',
      '--cpuset-mems',
      '--blkio-weight',
    ],
    booleans: [],
    aliases: { '-r': 'resources' },
  });
  const id = one(positionals);
  let r: LinuxResources = {};
  if (flags.resources)
    r = JSON.parse(
      flags.resources === '-' ? readFileSync(0, 'utf8') : readFileSync(flags.resources as string, 'utf8'),
    );
  const num = (k: string) => {
    const v = flags[k];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n)) throw new UsageError(`--${k}: "${v}" is not an integer`);
    return n;
  };
  const memory = { limit: num('memory'), swap: num('memory-swap'), reservation: num('memory-reservation') };
  if (Object.values(memory).some((v) => v !== undefined)) r.memory = { ...r.memory, ...strip(memory) };
  const cpu = {
    quota: num('cpu-quota'),
    period: num('cpu-period'),
    shares: num('cpu-shares'),
    cpus: flags['cpuset-cpus'] as string | undefined,
    mems: flags['cpuset-mems'] as string | undefined,
  };
  if (Object.values(cpu).some((v) => v !== undefined)) r.cpu = { ...r.cpu, ...strip(cpu) };
  const pids = num('pids-limit');
  if (pids !== undefined) r.pids = { limit: pids };
  const weight = num('blkio-weight');
  if (weight !== undefined) r.blockIO = { ...r.blockIO, weight };
  await rt.update(id, r);
  return 0;
}

function strip<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
