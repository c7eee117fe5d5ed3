'use client';
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import { useEffect, useRef, useState } from 'react';
import { connectTerminal } from './connect';
import { SessionList } from './session-list';
import '@xterm/xterm/css/xterm.css';

/** A shell in `container`, filling the window; a reload attaches to the same shell session. */
export function TerminalView({ container }: { container: string }) {
  const host = useRef<HTMLDivElement>(null);
  const [session, setSession] = useState<string | undefined>();

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const term = new Terminal({ cursorBlink: true, scrollback: 10_000, convertEol: false });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(el);
    fit.fit();
    const link = connectTerminal(
      container,
      { cols: term.cols, rows: term.rows },
      {
        output: (bytes) => term.write(bytes),
        notice: (text) => term.write(`\r\n\x1b[1;33m[berth] ${text}\x1b[0m\r\n`),
        ready: (id, attached) => {
          // berthd replays the session's screen next: start from a clean one, not on top.
          if (attached) term.reset();
          setSession(id);
        },
      },
    );
    const input = term.onData((d) => link.input(d));
    const resized = term.onResize(({ cols, rows }) => link.resize(cols, rows));
    const refit = () => fit.fit();
    window.addEventListener('resize', refit);
    term.focus();
    return () => {
      window.removeEventListener('resize', refit);
      input.dispose();
      resized.dispose();
      link.close();
      term.dispose();
    };
  }, [container]);

  return (
    <main className="terminal-page">
      <header className="terminal-bar">
        <a href="/">Berth</a>
        <span>
          Shell in <strong>{container}</strong>
        </span>
        <span className="muted" data-testid="terminal-session">
          {session ? `session ${session}` : 'connecting…'}
        </span>
      </header>
      <SessionList container={container} current={session} />
      <div className="terminal-host" ref={host} data-testid="terminal" />
    </main>
  );
}
