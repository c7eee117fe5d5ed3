import type { ImageProgressEvent } from '@berth/contracts';
import { bytes } from './units.ts';

// Progress of a pull or a build. On a terminal: one bar per layer, redrawn in place (at most
// ten times a second). Elsewhere: a line whenever a layer changes phase, so logs stay short.

export interface ProgressView {
  update(e: ImageProgressEvent): void;
  /** Draws the final state and stops drawing. */
  finish(): void;
}

interface LayerState {
  phase: string;
  done: number;
  total: number;
}

const BAR = 30;

export function progressView(out: NodeJS.WriteStream): ProgressView {
  const tty = out.isTTY === true;
  const layers = new Map<string, LayerState>();
  let status = '';
  let drawn = 0;
  let lastDraw = 0;

  const short = (d: string) => d.replace(/^sha256:/, '').slice(0, 12);
  const render = () => {
    const lines = [...layers].map(([d, l]) => {
      const frac = l.total > 0 ? Math.min(1, l.done / l.total) : l.phase === 'done' ? 1 : 0;
      const filled = Math.round(frac * BAR);
      const bar = `[${'='.repeat(filled)}${filled < BAR ? '>' : ''}${' '.repeat(Math.max(0, BAR - filled - 1))}]`;
      const label =
        l.phase === 'done' || l.phase === 'exists'
          ? l.phase === 'exists'
            ? 'already here'
            : 'done'
          : l.phase;
      return `${short(d)}  ${label.padEnd(12)} ${bar} ${bytes(l.done)} / ${bytes(l.total)}`;
    });
    if (status) lines.push(status);
    return lines;
  };
  const draw = (force: boolean) => {
    const now = Date.now();
    if (!force && now - lastDraw < 100) return;
    lastDraw = now;
    const lines = render();
    let s = drawn > 0 ? `\x1b[${drawn}A` : '';
    for (const l of lines) s += `\x1b[2K${l}\n`;
    out.write(s);
    drawn = lines.length;
  };

  return {
    update(e) {
      if (e.type === 'resolved') {
        for (const l of e.layers) layers.set(l.digest, { phase: 'waiting', done: 0, total: l.size });
        if (!tty) out.write(`resolved ${e.reference ?? ''} ${e.digest} (${e.layers.length} layers)\n`);
      } else if (e.type === 'layer') {
        const prev = layers.get(e.digest);
        layers.set(e.digest, { phase: e.phase, done: e.done, total: e.total });
        if (!tty && prev?.phase !== e.phase) out.write(`${short(e.digest)} ${e.phase} ${bytes(e.total)}\n`);
      } else if (e.type === 'status') {
        status = e.total ? `${e.message} (${e.done ?? 0}/${e.total})` : e.message;
        if (!tty) out.write(`${e.phase}: ${status}\n`);
      }
      if (tty) draw(false);
    },
    finish() {
      if (tty) draw(true);
    },
  };
}
