import { openTerminal, type TerminalConnection } from '@berth/agent/client';
import {
  type ErrorBody,
  ShellSessionId,
  type ShellSessionInfo,
  type TerminalOpen,
  TermName,
} from '@berth/contracts';
import { Command, Option } from 'commander';
import { actor, clientOf, parseNumber, UsageError } from '../client.ts';
import { printJson } from '../output/json.ts';
import { table } from '../output/table.ts';
import { ago } from '../output/units.ts';
import type { GlobalOptions } from '../program.ts';

// berth shell / berth console: the local terminal in raw mode relayed to a pty in the
// container over berthd's terminal websocket; resizes follow SIGWINCH. A shell is a session
// that outlives this command: Ctrl-] (or losing the connection) detaches, and
// `berth shell NAME --attach ID` picks it up again, its recent output first.

/** Ctrl-] detaches (as telnet and virsh console do); the container, or the shell, runs on. */
export const DETACH_KEY = 0x1d;

/** --detach-key: "ctrl-X" (a letter or one of @[\\]^_) or "none" → the byte, or undefined. */
export function parseDetachKey(value: string): number | undefined {
  if (value === 'none') return undefined;
  const m = /^ctrl-([a-z@[\\\]^_])$/i.exec(value);
  if (!m)
    throw new UsageError(
      `invalid --detach-key: "${value}" must be ctrl-<letter>, ctrl-] (and @ [ \\ ^ _) or none`,
    );
  return m[1]!.toUpperCase().charCodeAt(0) & 0x1f;
}

const detachKeyOption = () =>
  new Option('--detach-key <key>', 'the key that detaches: ctrl-<letter>, ctrl-] … or none').default(
    'ctrl-]',
  );

const collect = (value: string, prev: string[] = []) => [...prev, value];

/** An error the agent sent in an error frame; its code decides the exit status (see berth.ts). */
class TerminalError extends Error {
  readonly data: { berthCode: string };
  constructor(body: ErrorBody) {
    super(body.message);
    this.data = { berthCode: body.code };
  }
}

function size(): { cols: number; rows: number } {
  const out = process.stdout;
  return out.isTTY ? { cols: out.columns || 80, rows: out.rows || 24 } : { cols: 80, rows: 24 };
}

/** Runs one terminal to its end; resolves with the exit status `berth` should have. */
async function relay(
  socket: string,
  open: TerminalOpen,
  o: { detachKey: number | undefined; onDetach?: () => void; onReady?: (info: { session?: string }) => void },
): Promise<number> {
  const stdin = process.stdin;
  const raw = stdin.isTTY === true;
  let term: TerminalConnection | undefined;
  let detached = false;
  const onInput = (chunk: Buffer) => {
    if (o.detachKey !== undefined && raw) {
      const at = chunk.indexOf(o.detachKey);
      if (at >= 0) {
        if (at > 0) term?.write(chunk.subarray(0, at));
        detached = true;
        term?.close();
        return;
      }
    }
    term?.write(chunk);
  };
  const onResize = () => term?.resize(size());
  term = openTerminal({ socketPath: socket }, open, {
    onOutput: (chunk) => process.stdout.write(chunk),
    ...(o.onReady ? { onReady: o.onReady } : {}),
  });
  if (raw) stdin.setRawMode(true);
  stdin.on('data', onInput);
  // Without a terminal (a pipe), stdin's end is passed on as the terminal's EOF key.
  stdin.once('end', () => {
    if (!raw) term?.write(Buffer.from([0x04]));
  });
  process.stdout.on('resize', onResize);
  process.on('SIGWINCH', onResize);
  try {
    const end = await term.ended;
    if (end.error) throw new TerminalError(end.error);
    if (detached) {
      o.onDetach?.();
      return 0;
    }
    if (end.exitCode !== undefined) return end.exitCode;
    // No exit status and not a normal close: berthd went away (or cut us off) mid-session.
    if (end.closeCode !== 1000) {
      o.onDetach?.();
      throw new Error(`the connection to berthd was lost (websocket close ${end.closeCode})`);
    }
    return 0;
  } finally {
    if (raw) stdin.setRawMode(false);
    stdin.off('data', onInput);
    stdin.pause();
    process.stdout.off('resize', onResize);
    process.off('SIGWINCH', onResize);
  }
}

export function terminalCommands(): Command[] {
  const shell = new Command('shell')
    .description(
      'a login shell (or COMMAND) on a pty in a running container, as a session that outlives this command: Ctrl-] detaches (it runs on), --attach ID picks it up again with its recent output; exits with its status.',
    )
    .argument('<name>')
    .argument('[command...]', 'run this instead of the login shell (after --)')
    .option('-u, --user <user>', 'uid[:gid] or user name (default: the container’s user)')
    .option('-w, --workdir <dir>', 'working directory (default: the user’s home)')
    .option('-e, --env <KEY=VALUE>', 'environment variable (repeatable)', collect)
    .option('-l, --list', "list the container's shell sessions")
    .option('-a, --attach <id>', 'attach to a running session (several clients may be attached at once)')
    .option('--kill <id>', 'end a session (its shell and everything it started)')
    .option('--scrollback <bytes>', 'with --attach: bytes of earlier output to show first')
    .option('--read-only', 'with --attach: watch only (what you type is not sent)')
    .addOption(detachKeyOption())
    .addOption(
      new Option('--format <format>', 'output format of --list').choices(['text', 'json']).default('text'),
    )
    .action(
      async (
        name: string,
        command: string[],
        o: {
          user?: string;
          workdir?: string;
          env?: string[];
          list?: boolean;
          attach?: string;
          kill?: string;
          scrollback?: string;
          readOnly?: boolean;
          detachKey: string;
          format: 'text' | 'json';
        },
        cmd: Command,
      ) => {
        const { socket } = cmd.optsWithGlobals<GlobalOptions>();
        const modes = [o.list, o.attach, o.kill].filter((m) => m !== undefined).length;
        if (modes > 1) throw new UsageError('choose one of --list, --attach and --kill');
        if (modes > 0 && (command.length > 0 || o.user || o.workdir || o.env))
          throw new UsageError('a command, --user, --workdir and --env are for a new shell only');
        if ((o.readOnly || o.scrollback !== undefined) && o.attach === undefined)
          throw new UsageError('--read-only and --scrollback go with --attach');
        const sessionId = (value: string, option: string) => {
          const parsed = ShellSessionId.safeParse(value);
          if (!parsed.success)
            throw new UsageError(`invalid ${option}: "${value}" ${parsed.error.issues[0]?.message}`);
          return parsed.data;
        };
        if (o.list) {
          const list = await clientOf(cmd).shell.list.query({ name });
          if (o.format === 'json') printJson(list);
          else process.stdout.write(formatSessions(list));
          return;
        }
        if (o.kill !== undefined) {
          const id = sessionId(o.kill, '--kill');
          await clientOf(cmd).shell.kill.mutate({ name, session: id, actor: actor() });
          process.stderr.write(`session ${id} of ${name} ended\n`);
          return;
        }
        let session = o.attach !== undefined ? sessionId(o.attach, '--attach') : undefined;
        const detachKey = parseDetachKey(o.detachKey);
        const tty = process.stdin.isTTY === true;
        process.exitCode = await relay(
          socket,
          session !== undefined
            ? {
                type: 'open',
                kind: 'attach',
                name,
                session,
                ...size(),
                ...(o.scrollback !== undefined
                  ? { scrollbackBytes: parseNumber(o.scrollback, 'scrollback') }
                  : {}),
                readOnly: o.readOnly === true,
                actor: actor(),
              }
            : {
                type: 'open',
                kind: 'shell',
                name,
                ...size(),
                ...(command.length > 0 ? { command } : {}),
                ...(o.user ? { user: o.user } : {}),
                ...(o.workdir ? { cwd: o.workdir } : {}),
                env: o.env ?? [],
                term: TermName.safeParse(process.env.TERM).success ? process.env.TERM! : 'xterm-256color',
                actor: actor(),
              },
          {
            detachKey,
            onReady: (info) => {
              session ??= info.session;
            },
            onDetach: () => {
              if (session !== undefined)
                process.stderr.write(
                  `${tty ? '\r\n' : ''}detached from shell session ${session} of ${name}; it runs on. Attach again: berth shell ${name} --attach ${session}${tty ? '\r' : ''}\n`,
                );
            },
          },
        );
      },
    );

  const console_ = new Command('console')
    .description(
      "attach to a running container's console (its init's terminal): recent output, then live. Ctrl-] detaches; the container keeps running.",
    )
    .argument('<name>')
    .option('--scrollback <bytes>', 'bytes of earlier output to show first', '65536')
    .addOption(detachKeyOption())
    .action(async (name: string, o: { scrollback: string; detachKey: string }, cmd: Command) => {
      const { socket } = cmd.optsWithGlobals<GlobalOptions>();
      const detachKey = parseDetachKey(o.detachKey);
      if (process.stdin.isTTY)
        process.stderr.write(
          `attached to ${name}'s console; ${detachKey !== undefined ? `${o.detachKey} detaches` : 'no detach key'}\r\n`,
        );
      process.exitCode = await relay(
        socket,
        {
          type: 'open',
          kind: 'console',
          name,
          ...size(),
          scrollbackBytes: parseNumber(o.scrollback, 'scrollback'),
          actor: actor(),
        },
        {
          detachKey,
          onDetach: () => {
            if (process.stdin.isTTY) process.stderr.write(`\r\ndetached from ${name}'s console\r\n`);
          },
        },
      );
    });

  return [shell, console_];
}

export function formatSessions(list: ShellSessionInfo[]): string {
  return table(
    ['ID', 'COMMAND', 'USER', 'PID', 'CREATED', 'ATTACHED', 'LAST ACTIVITY', 'BY'],
    list.map((x) => [
      x.id,
      x.command.join(' '),
      x.user ?? '-',
      x.pid !== null ? String(x.pid) : '-',
      ago(x.createdAt),
      String(x.attached),
      ago(x.lastActivityAt),
      x.actor,
    ]),
  );
}
