// Host ports: is one free to publish, and does a new publication clash with one Berth holds.
import dgram from 'node:dgram';
import net from 'node:net';
import { NetError } from './errors.ts';
import type { NetState, PortForward } from './state.ts';

const wildcard = (a: string): boolean => a === '0.0.0.0' || a === '::';

export function samePublication(a: PortForward, b: PortForward): boolean {
  return (
    a.protocol === b.protocol &&
    a.hostPort === b.hostPort &&
    (a.hostAddress === b.hostAddress || wildcard(a.hostAddress) || wildcard(b.hostAddress))
  );
}

/** Throws if any of `ports` is already published (by another container or twice in the list). */
export function checkNotPublished(state: NetState, containerId: string, ports: PortForward[]): void {
  const taken: Array<{ p: PortForward; by: string }> = [];
  for (const ep of Object.values(state.endpoints))
    if (ep.containerId !== containerId) for (const p of ep.ports) taken.push({ p, by: ep.containerId });
  ports.forEach((p, i) => {
    const clash = taken.find((t) => samePublication(t.p, p));
    if (clash)
      throw new NetError(
        'port_in_use',
        `ports[${i}]: ${p.protocol} ${p.hostAddress}:${p.hostPort} is already published by container ${clash.by}`,
        `ports[${i}]`,
      );
    taken.push({ p, by: containerId });
  });
}

/** Binds the port for a moment: a host service listening there would shadow the forward (or
 * be shadowed by it). A host address that is not local fails here too. */
export async function checkHostPortFree(p: PortForward, field: string): Promise<void> {
  const err = (e: NodeJS.ErrnoException): NetError =>
    e.code === 'EADDRINUSE' || e.code === 'EACCES'
      ? new NetError(
          'port_in_use',
          `${field}: ${p.protocol} ${p.hostAddress}:${p.hostPort} is in use on the host`,
          field,
        )
      : new NetError(
          'invalid_argument',
          `${field}: cannot use ${p.hostAddress}:${p.hostPort} (${e.code ?? e.message})`,
          field,
        );
  await new Promise<void>((resolve, reject) => {
    if (p.protocol === 'tcp') {
      const srv = net.createServer();
      srv.once('error', (e) => reject(err(e)));
      srv.listen({ port: p.hostPort, host: p.hostAddress, exclusive: true }, () =>
        srv.close(() => resolve()),
      );
    } else {
      const sock = dgram.createSocket(p.hostAddress.includes(':') ? 'udp6' : 'udp4');
      sock.once('error', (e) => {
        sock.close();
        reject(err(e));
      });
      sock.bind({ port: p.hostPort, address: p.hostAddress, exclusive: true }, () =>
        sock.close(() => resolve()),
      );
    }
  });
}
