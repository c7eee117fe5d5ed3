import { z } from 'zod';
import { Actor, ContainerName, EnvVar, UserSpec } from './container.ts';
import { ErrorCode } from './errors.ts';

// The terminal wire protocol: one websocket per terminal, on berthd's socket and its TCP
// listener (path TERMINAL_PATH, subprotocol TERMINAL_PROTOCOL), relayed as is by the panel.
//
// A shell is a *session* that outlives its clients: closing the websocket detaches (the
// shell runs on); it ends when its process exits, when it is killed (the session API), or
// after the agent's idle timeout with nobody attached. `open` with kind "attach" joins a
// running session by id (several clients may be attached at once): its scrollback first,
// then live output.
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

export const TermName = z
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

/** A shell session's id, as `berth shell NAME --list` shows it. */
export const ShellSessionId = z
  .string()
  .regex(/^[0-9a-f]{8}$/, 'must be a session id of 8 hex digits such as 3f9a2c1b (berth shell NAME --list)');
export type ShellSessionId = z.infer<typeof ShellSessionId>;

/** Join a running shell session of the container: its scrollback, then live. */
export const ShellAttach = TerminalSize.extend({
  type: z.literal('open'),
  kind: z.literal('attach'),
  name: ContainerName,
  session: ShellSessionId,
  /** Bytes of the session's scrollback replayed before the live output (0: none). */
  scrollbackBytes: z
    .number()
    .int()
    .min(0)
    .max(16 << 20)
    .default(16 << 20),
  /** Watch only: this client's input and size are ignored (a teammate looking on). */
  readOnly: z.boolean().default(false),
  actor: Actor,
}).strict();

export const TerminalOpen = z.discriminatedUnion('kind', [ShellOpen, ConsoleOpen, ShellAttach]);
export type TerminalOpen = z.input<typeof TerminalOpen>;
export type TerminalOpenParsed = z.output<typeof TerminalOpen>;

export const TerminalResize = TerminalSize.extend({ type: z.literal('resize') }).strict();

/** Client → agent control frames after `open`. */
export const TerminalClientFrame = z.discriminatedUnion('type', [TerminalResize]);
export type TerminalClientFrame = z.infer<typeof TerminalClientFrame>;

/** Agent → client control frames. */
export const TerminalServerFrame = z.discriminatedUnion('type', [
  /** The process runs (shell) or the console is attached; output follows. */
  z
    .object({
      type: z.literal('ready'),
      pid: z.number().int().optional(),
      /** A shell's session id (to attach to it again). */
      session: ShellSessionId.optional(),
    })
    .strict(),
  /** The shell's exit status, or the container's when its init exits under a console. */
  z.object({ type: z.literal('exit'), code: z.number().int() }).strict(),
  z.object({ type: z.literal('error'), code: ErrorCode, message: z.string() }).strict(),
]);
export type TerminalServerFrame = z.infer<typeof TerminalServerFrame>;

/** A problem with a frame, as the sentence the error frame carries (zod issues → one line). */
export function describeFrameError(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : 'frame'}: ${i.message}`).join('; ');
}

/** A shell session as the session API lists it. */
export const ShellSessionInfo = z
  .object({
    id: ShellSessionId,
    container: z.string(),
    command: z.array(z.string()),
    user: z.string().nullable(),
    /** Who opened it. */
    actor: z.string(),
    /** The shell's host pid (its session's leader). */
    pid: z.number().int().nullable(),
    createdAt: z.string(),
    /** Clients attached now. */
    attached: z.number().int(),
    /** Last output or input. */
    lastActivityAt: z.string(),
    /** Since when nobody has been attached (null while someone is). */
    detachedAt: z.string().nullable(),
  })
  .strict();
export type ShellSessionInfo = z.infer<typeof ShellSessionInfo>;

export const ShellSessionList = z.object({ name: ContainerName }).strict();
export const ShellSessionKill = z
  .object({ name: ContainerName, session: ShellSessionId, actor: Actor })
  .strict();
