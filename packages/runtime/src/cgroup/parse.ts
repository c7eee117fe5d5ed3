import type { PressureLine, PressureStats } from './manager.ts';

// Parsers for the cgroup file formats (Documentation/admin-guide/cgroup-v2.rst, "Interface
// Files"; v1 uses the same shapes). They return what is there and never invent zeros.

/** "key value" per line (cpu.stat, memory.stat, memory.events, v1 cpuacct.stat, oom_control). */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp <= 0) continue;
    const v = Number(line.slice(sp + 1));
    if (!Number.isNaN(v)) out.set(line.slice(0, sp), v);
  }
  return out;
}

/** "maj:min key=value key=value" per line (io.stat, io.max). */
export function parseNestedKeyed(text: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    const key = fields.shift();
    if (!key) continue;
    const kv = new Map<string, string>();
    for (const f of fields) {
      const eq = f.indexOf('=');
      if (eq > 0) kv.set(f.slice(0, eq), f.slice(eq + 1));
    }
    out.set(key, kv);
  }
  return out;
}

/** A single number, or undefined for "max" (no limit) and anything unparsable. */
export function parseSingle(text: string): number | undefined {
  const t = text.trim();
  if (t === '' || t === 'max') return undefined;
  const v = Number(t);
  return Number.isNaN(v) ? undefined : v;
}

/**
 * The value of `key` in a flat-keyed file, found with indexOf instead of splitting every line:
 * stats sampling reads ~12 files per container per second, and memory.stat alone has ~70 lines.
 */
export function flatKeyedValue(text: string, key: string): number | undefined {
  let at = text.startsWith(`${key} `) ? 0 : text.indexOf(`\n${key} `);
  if (at < 0) return undefined;
  if (at > 0) at += 1;
  const start = at + key.length + 1;
  let end = text.indexOf('\n', start);
  if (end < 0) end = text.length;
  const v = Number(text.slice(start, end));
  return Number.isNaN(v) ? undefined : v;
}

/** PSI: "some avg10=0.00 avg60=0.00 avg300=0.00 total=0" and optionally a "full" line. */
export function parsePressure(text: string): PressureStats | undefined {
  const some = pressureLine(text, 'some ');
  if (!some) return undefined;
  const full = pressureLine(text, 'full ');
  return full ? { some, full } : { some };
}

function pressureLine(text: string, kind: 'some ' | 'full '): PressureLine | undefined {
  let at: number;
  if (text.startsWith(kind)) at = 0;
  else {
    at = text.indexOf(`\n${kind}`);
    if (at < 0) return undefined;
    at += 1;
  }
  let end = text.indexOf('\n', at);
  if (end < 0) end = text.length;
  const avg10 = pressureField(text, 'avg10=', at, end);
  const avg60 = pressureField(text, 'avg60=', at, end);
  const avg300 = pressureField(text, 'avg300=', at, end);
  const total = pressureField(text, 'total=', at, end);
  if (Number.isNaN(avg10) || Number.isNaN(avg60) || Number.isNaN(avg300) || Number.isNaN(total))
    return undefined;
  return { avg10, avg60, avg300, total };
}

function pressureField(text: string, name: string, at: number, end: number): number {
  const i = text.indexOf(name, at);
  if (i < 0 || i > end) return Number.NaN;
  const start = i + name.length;
  let stop = text.indexOf(' ', start);
  if (stop < 0 || stop > end) stop = end;
  return Number(text.slice(start, stop));
}

/** cgroup.procs: one pid per line. */
export function parsePids(text: string): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    const n = Number.parseInt(line, 10);
    if (n > 0) out.push(n);
  }
  return out;
}
