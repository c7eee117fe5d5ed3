import { readFileSync } from 'node:fs';
import { AgentPolicy } from '@berth/contracts';

// berthd's config file: JSON validated against AgentPolicy. A missing file means the
// defaults (nothing bind-mountable, no privileged containers); a bad one stops berthd with
// the field named.

export const DEFAULT_CONFIG_FILE = '/etc/berth/agent.json';

export function loadPolicy(file: string | undefined): AgentPolicy {
  if (!file) return AgentPolicy.parse({});
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && file === DEFAULT_CONFIG_FILE)
      return AgentPolicy.parse({});
    throw new Error(`config ${file}: ${(e as Error).message}`);
  }
  const r = AgentPolicy.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new Error(`config ${file}: invalid ${issue.path.join('.') || 'file'}: ${issue.message}`);
  }
  return r.data;
}
