import { z } from 'zod';
import { Actor, ContainerName, EnvVar, UserSpec } from './container.ts';
import { ErrorCode } from './errors.ts';

// The terminal wire protocol: one websocket per terminal, on berthd's socket and its TCP
// listener (path TERMINAL_PATH, subprotocol TERMINAL_PROTOCOL), relayed as is by the panel.
//
// Data and control travel apart (as in Incus and ttyd): a *binary* message is terminal bytes
// (client → agent: keyboard input; agent → client: output), a *text* message is one JSON
// control frame below. The first client message must be `open`, which names the container
// and the terminal's size: nothing is spawned before it. Every frame is validated; a frame
// that fails gets an `error` frame naming the problem and the socket closes (code 1008).

export const TERMINAL_PATH = '/v1/terminal';
export const TERMINAL_PROTOCOL = 'berth.terminal.v1';
/** Largest message either side sends (input or output bytes, or a JSON frame). */
export const TERMINAL_MAX_MESSAGE = 64 * 1024;
/** Websocket close codes the agent uses. */
export const TerminalClose = { normal: 1000, badFrame: 1008, internal: 1011 } as const;

const dimension = (what: string) =>
  z
    .number()
    .int(`${what} must be a whole number`)
    .min(1, `${what} must be at least 1`)
    .max(1000, `${what} must be at most 1000`);

export const TerminalSize = z.object({ cols: dimension('cols'), rows: dimension('rows') }).strict();
export type TerminalSize = z.infer<typeof TerminalSize>;

const TermName = z
  .string()
  .max(64)
  .regex(/^[A-Za-z0-9._+-]+$/, 'must be a terminal type such as xterm-256color');

/** A new process in the container on a pty (a login shell unless `command` is given). */
export const ShellOpen = TerminalSize.extend({
  type: z.literal('open'),
  kind: z.literal('shell'),
  name: ContainerName,
  command: z.array(z.string().max(4096)).min(1).max(256).optional(),
  user: UserSpec.optional(),
  cwd: z
    .string()
    .max(4096)
    .refine((s) => s.startsWith('/'), 'must be an absolute path')
    .optional(),
  env: z.array(EnvVar).max(256).default([]),
  term: TermName.default('xterm-256color'),
  actor: Actor,
}).strict();

/** The container's console (its init's terminal, held by its monitor): scrollback, then live. */
export const ConsoleOpen = TerminalSize.extend({
  type: z.literal('open'),
  kind: z.literal('console'),
  name: ContainerName,
  /** Bytes of the console log replayed before the live output (0: none). */
  scrollbackBytes: z
    .number()
    .int()
    .min(0)
    .max(1 << 20)
    .default(64 * 1024),
  actor: Actor,
}).strict();

export const TerminalOpen = z.discriminatedUnion('kind', [ShellOpen, ConsoleOpen]);
export type TerminalOpen = z.input<typeof TerminalOpen>;
export type TerminalOpenParsed = z.output<typeof TerminalOpen>;

export const TerminalResize = TerminalSize.extend({ type: z.literal('resize') }).strict();

/** Client → agent control frames after `open`. */
export const TerminalClientFrame = z.discriminatedUnion('type', [TerminalResize]);
export type TerminalClientFrame = z.infer<typeof TerminalClientFrame>;

/** Agent → client control frames. */
export const TerminalServerFrame = z.discriminatedUnion('type', [
  /** The process runs (shell) or the console is attached; output follows. */
  z.object({ type: z.literal('ready'), pid: z.number().int().optional() }).strict(),
  /** The shell's exit status, or the container's when its init exits under a console. */
  z.object({ type: z.literal('exit'), code: z.number().int() }).strict(),
  z.object({ type: z.literal('error'), code: ErrorCode, message: z.string() }).strict(),
]);
export type TerminalServerFrame = z.infer<typeof TerminalServerFrame>;

/** A problem with a frame, as the sentence the error frame carries (zod issues → one line). */
export function describeFrameError(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : 'frame'}: ${i.message}`).join('; ');
}
