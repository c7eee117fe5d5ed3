// runc-style arguments: global flags, a command, its flags, positionals. Flags take their
// value as "--flag value" or "--flag=value"; boolean flags take none.

export interface FlagSpec {
  /** names (with dashes) that take a value */
  values: string[];
  /** names that are booleans */
  booleans: string[];
  /** values that may repeat */
  repeat?: string[];
  /** short names, e.g. { '-b': 'bundle' } */
  aliases?: Record<string, string>;
}

export interface Parsed {
  flags: Record<string, string | boolean | string[]>;
  positionals: string[];
}

export class UsageError extends Error {}

export function parseFlags(
  argv: string[],
  spec: FlagSpec,
  stopAtPositional = false,
): Parsed & { rest: string[] } {
  const flags: Parsed['flags'] = {};
  const positionals: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      if (stopAtPositional) break;
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    const long = spec.aliases?.[name] ? `--${spec.aliases[name]}` : name;
    if (spec.booleans.includes(name) || spec.booleans.includes(long)) {
      flags[canonical(name, spec)] = eq > 0 ? a.slice(eq + 1) !== 'false' : true;
    } else if (spec.values.includes(name) || spec.values.includes(long)) {
      const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new UsageError(`flag ${name} needs a value`);
      const key = canonical(name, spec);
      if (spec.repeat?.includes(long)) flags[key] = [...((flags[key] as string[]) ?? []), v];
      else flags[key] = v;
    } else {
      throw new UsageError(`unknown flag ${name}`);
    }
  }
  return { flags, positionals, rest: argv.slice(i) };
}

function canonical(name: string, spec: FlagSpec): string {
  return spec.aliases?.[name] ?? name.replace(/^-+/, '');
}
