// Host sysctls Berth needs while it has networks. The value found before Berth changed it is
// saved in NetState, so the host gets its own setting back when the last network goes (even
// across an agent restart).
import { readFile, writeFile } from 'node:fs/promises';

export const IPV4_FORWARD = 'net/ipv4/ip_forward';
export const IPV6_FORWARD = 'net/ipv6/conf/all/forwarding';

export async function readSysctl(key: string): Promise<string> {
  return (await readFile(`/proc/sys/${key}`, 'utf8')).trim();
}

export async function writeSysctl(key: string, value: string): Promise<void> {
  await writeFile(`/proc/sys/${key}`, value);
}
