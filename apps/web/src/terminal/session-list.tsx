'use client';
import type { ShellSessionInfo } from '@berth/contracts';
import { useCallback, useEffect, useState } from 'react';
import { forgetSession, rememberSession } from './session-store';

const SESSIONS_URL = '/api/terminal-sessions';

/** The container's shell sessions: attach this tab's terminal to one, end one, or start anew. */
export function SessionList({ container, current }: { container: string; current: string | undefined }) {
  const [sessions, setSessions] = useState<ShellSessionInfo[]>([]);
  const [problem, setProblem] = useState<string | undefined>();

  const refresh = useCallback(async () => {
    const res = await fetch(`${SESSIONS_URL}?name=${encodeURIComponent(container)}`, { cache: 'no-store' });
    const body = (await res.json()) as ShellSessionInfo[] | { message: string };
    if (Array.isArray(body)) {
      setSessions(body);
      setProblem(undefined);
    } else setProblem(body.message);
  }, [container]);

  useEffect(() => {
    void refresh();
    const timer = setInterval(() => void refresh(), 5000);
    return () => clearInterval(timer);
  }, [refresh]);
  // The terminal's own session appears once it is ready: list again then.
  useEffect(() => {
    if (current) void refresh();
  }, [current, refresh]);

  const switchTo = (id: string | undefined) => {
    if (id) rememberSession(window.sessionStorage, container, id);
    else forgetSession(window.sessionStorage, container);
    window.location.reload();
  };
  const end = async (id: string) => {
    const res = await fetch(SESSIONS_URL, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: container, session: id }),
    });
    if (!res.ok) setProblem(((await res.json()) as { message: string }).message);
    await refresh();
  };

  return (
    <section className="sessions" data-testid="sessions">
      <span className="muted">Sessions:</span>
      {sessions.map((s) => (
        <span key={s.id} className="session" data-testid={`session-${s.id}`}>
          <code>{s.id}</code> {s.command.join(' ')} · {s.actor} ·{' '}
          {s.id === current ? 'this terminal' : s.attached > 0 ? `${s.attached} attached` : 'detached'}
          {s.id !== current && (
            <button type="button" className="link" onClick={() => switchTo(s.id)}>
              attach
            </button>
          )}
          <button type="button" className="link" onClick={() => void end(s.id)}>
            end
          </button>
        </span>
      ))}
      <button type="button" className="link" onClick={() => switchTo(undefined)}>
        new shell
      </button>
      {problem && <span className="error">{problem}</span>}
    </section>
  );
}
