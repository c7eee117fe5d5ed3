import { openTerminal, type TerminalConnection } from '@berth/agent/client';
import type { ErrorBody, TerminalOpen } from '@berth/contracts';
import { Command } from 'commander';
import { actor, parseNumber } from '../client.ts';
import type { GlobalOptions } from '../program.ts';

// berth shell / berth console: the local terminal in raw mode relayed to a pty in the
// container over berthd's terminal websocket; resizes follow SIGWINCH.

/** Ctrl-] detaches from a console (as telnet and virsh console do); the container runs on. */
export const DETACH_KEY = 0x1d;

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
  o: { detachKey: boolean; onDetach?: () => void },
): Promise<number> {
  const stdin = process.stdin;
  const raw = stdin.isTTY === true;
  let term: TerminalConnection | undefined;
  let detached = false;
  const onInput = (chunk: Buffer) => {
    if (o.detachKey && raw) {
      const at = chunk.indexOf(DETACH_KEY);
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
    if (end.closeCode !== 1000)
      throw new Error(`the connection to berthd was lost (websocket close ${end.closeCode})`);
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
      "a login shell (or COMMAND) on a pty in a running container; exits with its status. The shell's session ends when you disconnect.",
    )
    .argument('<name>')
    .argument('[command...]', 'run this instead of the login shell (after --)')
    .option('-u, --user <user>', 'uid[:gid] or user name (default: the container’s user)')
    .option('-w, --workdir <dir>', 'working directory (default: the user’s home)')
    .option('-e, --env <KEY=VALUE>', 'environment variable (repeatable)', collect)
    .action(
      async (
        name: string,
        command: string[],
        o: { user?: string; workdir?: string; env?: string[] },
        cmd: Command,
      ) => {
        const { socket } = cmd.optsWithGlobals<GlobalOptions>();
        process.exitCode = await relay(
          socket,
          {
            type: 'open',
            kind: 'shell',
            name,
            ...size(),
            ...(command.length > 0 ? { command } : {}),
            ...(o.user ? { user: o.user } : {}),
            ...(o.workdir ? { cwd: o.workdir } : {}),
            env: o.env ?? [],
            term:
              process.env.TERM && /^[A-Za-z0-9._+-]+$/.test(process.env.TERM)
                ? process.env.TERM
                : 'xterm-256color',
            actor: actor(),
          },
          { detachKey: false },
        );
      },
    );

  const console_ = new Command('console')
    .description(
      "attach to a running container's console (its init's terminal): recent output, then live. Ctrl-] detaches; the container keeps running.",
    )
    .argument('<name>')
    .option('--scrollback <bytes>', 'bytes of earlier output to show first', '65536')
    .action(async (name: string, o: { scrollback: string }, cmd: Command) => {
      const { socket } = cmd.optsWithGlobals<GlobalOptions>();
      if (process.stdin.isTTY) process.stderr.write(`attached to ${name}'s console; Ctrl-] detaches\r\n`);
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
          detachKey: true,
          onDetach: () => {
            if (process.stdin.isTTY) process.stderr.write(`\r\ndetached from ${name}'s console\r\n`);
          },
        },
      );
    });

  return [shell, console_];
}
