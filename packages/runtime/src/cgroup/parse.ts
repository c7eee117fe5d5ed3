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

/** PSI: "some avg10=0.00 avg60=0.00 avg300=0.00 total=0" and optionally a "full" line. */
export function parsePressure(text: string): PressureStats | undefined {
  let some: PressureLine | undefined;
  let full: PressureLine | undefined;
  for (const line of text.split('\n')) {
    const [kind, ...rest] = line.trim().split(' ');
    if (kind !== 'some' && kind !== 'full') continue;
    const kv = new Map(rest.map((f) => f.split('=') as [string, string]));
    const p: PressureLine = {
      avg10: Number(kv.get('avg10')),
      avg60: Number(kv.get('avg60')),
      avg300: Number(kv.get('avg300')),
      total: Number(kv.get('total')),
    };
    if (Object.values(p).some(Number.isNaN)) continue;
    if (kind === 'some') some = p;
    else full = p;
  }
  if (!some) return undefined;
  return full ? { some, full } : { some };
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
