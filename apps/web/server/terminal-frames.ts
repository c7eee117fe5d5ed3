import {
  describeFrameError,
  ShellAttach,
  ShellOpen,
  TerminalClientFrame,
  type TerminalOpenParsed,
} from '@berth/contracts';
import { z } from 'zod';

// What a browser may send the panel's terminal relay, checked before anything reaches berthd.
// The panel opens only a login shell or joins one of the container's shell sessions: the
// browser names the container, the size and (to attach) the session; the actor is always the
// signed-in user, whatever the browser wrote.

/** The browser's first frame: a new shell, or an attach to a running session by its id. */
const BrowserOpen = z.discriminatedUnion('kind', [
  ShellOpen.pick({ type: true, kind: true, name: true, cols: true, rows: true }).strict(),
  ShellAttach.pick({ type: true, kind: true, name: true, cols: true, rows: true, session: true }).strict(),
]);

export type FrameCheck<T> = { ok: true; frame: T } | { ok: false; message: string };

function json(text: string): FrameCheck<unknown> {
  try {
    return { ok: true, frame: JSON.parse(text) };
  } catch {
    return { ok: false, message: 'frame: not JSON' };
  }
}

/** Validates the browser's `open` and makes it the agent's, with `actor` set by the panel. */
export function parseBrowserOpen(text: string, actor: string): FrameCheck<TerminalOpenParsed> {
  const raw = json(text);
  if (!raw.ok) return raw;
  const parsed = BrowserOpen.safeParse(raw.frame);
  if (!parsed.success) return { ok: false, message: describeFrameError(parsed.error) };
  const f = parsed.data;
  if (f.kind === 'shell') return { ok: true, frame: ShellOpen.parse({ ...f, actor }) };
  return { ok: true, frame: ShellAttach.parse({ ...f, actor }) };
}

/** Validates a control frame after `open` (a resize). */
export function parseBrowserControl(text: string): FrameCheck<TerminalClientFrame> {
  const raw = json(text);
  if (!raw.ok) return raw;
  const parsed = TerminalClientFrame.safeParse(raw.frame);
  if (!parsed.success) return { ok: false, message: describeFrameError(parsed.error) };
  return { ok: true, frame: parsed.data };
}
