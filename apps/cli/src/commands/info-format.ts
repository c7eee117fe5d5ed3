import type { HostFacts } from '@berth/contracts';
import { bytes, duration } from '../output/units.ts';

/** `berth info` for a person: one aligned label per line; continuation lines stay in the value column. */
export function formatHostFacts(f: HostFacts): string {
  const rows: Array<[string, string[]]> = [
    ['Host', [`${f.hostname} (${f.architecture})`]],
    ['Kernel', [f.kernelRelease]],
    ['Cgroups', cgroupLines(f.cgroup)],
    ['Namespaces', [namespaceLine(f)]],
    ['CPUs', [String(f.cpus)]],
    ['Memory', [`${bytes(f.memory.availableBytes)} available of ${bytes(f.memory.totalBytes)}`]],
    ['Agent', [`berthd ${f.agent.version}, up ${duration(f.agent.uptimeSeconds)}`]],
  ];
  const width = Math.max(...rows.map(([label]) => label.length)) + 2;
  const pad = ' '.repeat(width);
  return rows
    .map(([label, [first, ...rest]]) => [label.padEnd(width) + first, ...rest.map((l) => pad + l)].join('\n'))
    .join('\n')
    .concat('\n');
}

function namespaceLine(f: HostFacts): string {
  const userNs =
    f.maxUserNamespaces > 0 ? `up to ${f.maxUserNamespaces} user namespaces` : 'user namespaces off';
  return `${f.namespaces.join(' ')} (${userNs})`;
}

function cgroupLines(c: HostFacts['cgroup']): string[] {
  const lines: string[] = [c.mode];
  if (c.v2) {
    const controllers = c.v2.controllers.length > 0 ? c.v2.controllers.join(' ') : 'no controllers';
    lines.push(`v2 at ${c.v2.mountPoint} (${controllers})`);
  }
  // Comounted v1 controllers share a hierarchy: one line per mount point.
  const byMount = new Map<string, string[]>();
  for (const [controller, mount] of Object.entries(c.v1).sort(([a], [b]) => a.localeCompare(b))) {
    byMount.set(mount, [...(byMount.get(mount) ?? []), controller]);
  }
  for (const [mount, controllers] of byMount) lines.push(`v1 ${controllers.join(',')} at ${mount}`);
  for (const [name, mount] of Object.entries(c.v1Named ?? {})) lines.push(`v1 name=${name} at ${mount}`);
  return lines;
}
