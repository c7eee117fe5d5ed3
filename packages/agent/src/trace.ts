// BERTH_TRACE=1: berthd writes one line per traced operation to stderr,
//   berthd trace <op> <subject> total=<ms> <phase>=<ms> ...
// each phase the time since the previous mark. The agent benchmark (bench/agent.ts) reads
// these lines to print per-phase medians; without the variable a trace costs one branch.

const enabled = Boolean(process.env.BERTH_TRACE);

export interface Trace {
  /** Ends the phase that began at the previous mark (or the start), naming it. */
  mark(phase: string): void;
  /** Writes the line (once). */
  end(): void;
}

const off: Trace = { mark() {}, end() {} };

/** The clock traces read (process.hrtime.bigint()), for a `since` taken before the trace starts. */
export const traceClock = (): bigint => (enabled ? process.hrtime.bigint() : 0n);

/** A trace of `op` on `subject`, its first phase counted from `since` (traceClock()) or now. */
export function startTrace(op: string, subject: string, since?: bigint): Trace {
  if (!enabled) return off;
  const t0 = since || process.hrtime.bigint();
  let last = t0;
  const phases: string[] = [];
  let done = false;
  const ms = (a: bigint, b: bigint) => (Number(b - a) / 1e6).toFixed(3);
  return {
    mark(phase) {
      const now = process.hrtime.bigint();
      phases.push(`${phase}=${ms(last, now)}`);
      last = now;
    },
    end() {
      if (done) return;
      done = true;
      process.stderr.write(
        `berthd trace ${op} ${subject} total=${ms(t0, process.hrtime.bigint())} ${phases.join(' ')}\n`,
      );
    },
  };
}

/** Parses the lines startTrace wrote: op, subject and phases (total included) in ms. */
export function parseTraces(
  text: string,
): Array<{ op: string; subject: string; ms: Record<string, number> }> {
  const out: Array<{ op: string; subject: string; ms: Record<string, number> }> = [];
  for (const line of text.split('\n')) {
    const m = /^berthd trace (\S+) (\S+) (.*)$/.exec(line);
    if (!m) continue;
    const ms: Record<string, number> = {};
    for (const kv of m[3]!.split(' ')) {
      const [k, v] = kv.split('=');
      if (k && v !== undefined) ms[k] = Number(v);
    }
    out.push({ op: m[1]!, subject: m[2]!, ms });
  }
  return out;
}
