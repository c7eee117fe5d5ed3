import type { IncomingMessage, ServerResponse } from 'node:http';
import { type AgentClient, findUnreachable } from '@berth/agent/client';
import type { Viewer } from '@berth/api';
import {
  describeFrameError,
  ErrorCode,
  httpStatus,
  type ShellSessionInfo,
  ShellSessionKill,
  ShellSessionList,
} from '@berth/contracts';
import { TRPCClientError } from '@trpc/client';
import { sessionToken } from './session-cookie.ts';
import { mayUseTerminals } from './terminal-relay.ts';

// A container's shell sessions for the terminal page (list, end): JSON over the custom server,
// beside the terminal relay and behind the same check (signed in, allowed terminals).
// GET ?name=<container> lists; POST {name, session} (application/json, which with the
// SameSite=Strict cookie keeps other sites out) ends one, as the signed-in user.

export const TERMINAL_SESSIONS_PATH = '/api/terminal-sessions';

export interface ShellSessionsSource {
  list(name: string): Promise<ShellSessionInfo[]>;
  kill(name: string, session: string, actor: string): Promise<void>;
}

/** berthd's session API through its socket client. */
export function agentShellSessions(client: AgentClient): ShellSessionsSource {
  return {
    list: (name) => client.shell.list.query({ name }),
    kill: async (name, session, actor) => {
      await client.shell.kill.mutate({ name, session, actor });
    },
  };
}

function reply(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

const fail = (res: ServerResponse, code: ErrorCode, message: string) =>
  reply(res, httpStatus[code], { code, message });

// berthd's failure as the page should read it: unreachable, its own code and sentence, or ours.
function agentFailure(res: ServerResponse, err: unknown): void {
  const unreachable = findUnreachable(err);
  if (unreachable) fail(res, 'AGENT_UNREACHABLE', unreachable.message);
  else if (err instanceof TRPCClientError) {
    const code = ErrorCode.safeParse((err.data as { berthCode?: unknown } | undefined)?.berthCode);
    fail(res, code.success ? code.data : 'INTERNAL', `berthd: ${err.message}`);
  } else {
    console.error('terminal sessions:', err);
    fail(res, 'INTERNAL', 'internal error; the details are in the panel log');
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 4096) throw new Error('too long');
  }
  return JSON.parse(body);
}

const KillBody = ShellSessionKill.omit({ actor: true }).strict();

export function terminalSessionsHandler(options: {
  viewer(token: string | undefined): Promise<Viewer | null>;
  shells: ShellSessionsSource;
}) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const viewer = await options.viewer(sessionToken(req));
    if (!viewer) return fail(res, 'UNAUTHENTICATED', 'sign in first');
    if (!mayUseTerminals(viewer))
      return fail(res, 'FORBIDDEN', 'you are not allowed to use terminals (admins only)');
    if (req.method === 'GET') {
      const query = ShellSessionList.safeParse({
        name: new URL(req.url ?? '/', 'http://panel').searchParams.get('name') ?? undefined,
      });
      if (!query.success) return fail(res, 'INVALID_INPUT', describeFrameError(query.error));
      try {
        return reply(res, 200, await options.shells.list(query.data.name));
      } catch (err) {
        return agentFailure(res, err);
      }
    }
    if (req.method === 'POST') {
      if (!(req.headers['content-type'] ?? '').startsWith('application/json'))
        return fail(res, 'INVALID_INPUT', 'content-type: must be application/json');
      let raw: unknown;
      try {
        raw = await readJson(req);
      } catch {
        return fail(res, 'INVALID_INPUT', 'body: must be a JSON object of at most 4 KiB');
      }
      const body = KillBody.safeParse(raw);
      if (!body.success) return fail(res, 'INVALID_INPUT', describeFrameError(body.error));
      try {
        await options.shells.kill(body.data.name, body.data.session, `panel:${viewer.user.username}`);
        return reply(res, 200, { session: body.data.session });
      } catch (err) {
        return agentFailure(res, err);
      }
    }
    res.setHeader('allow', 'GET, POST');
    fail(res, 'INVALID_INPUT', `method: ${req.method} is not one of GET, POST`);
  };
}
