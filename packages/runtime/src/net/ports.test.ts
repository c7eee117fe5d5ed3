import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { checkHostPortFree, checkNotPublished } from './ports.ts';
import { type EndpointRecord, emptyState, type PortForward } from './state.ts';

const p = (hostPort: number, hostAddress = '0.0.0.0', protocol: 'tcp' | 'udp' = 'tcp'): PortForward => ({
  protocol,
  hostAddress,
  hostPort,
  containerPort: 80,
});

describe('published ports', () => {
  it('refuses a port published twice (wildcard overlaps any address), not other protocols', () => {
    const state = emptyState();
    state.endpoints.a = { containerId: 'a', ports: [p(8080, '127.0.0.1')] } as EndpointRecord;
    expect(() => checkNotPublished(state, 'b', [p(8080)])).toThrow(/already published by container a/);
    expect(() => checkNotPublished(state, 'b', [p(8080, '127.0.0.1')])).toThrow(/ports\[0\]/);
    expect(() => checkNotPublished(state, 'b', [p(8081), p(8081, '127.0.0.2')])).toThrow(/ports\[1\]/);
    expect(() =>
      checkNotPublished(state, 'b', [p(8080, '127.0.0.2'), p(8080, '127.0.0.1', 'udp')]),
    ).not.toThrow();
  });

  it('finds a host port in use by binding it', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as net.AddressInfo).port;
    try {
      await expect(checkHostPortFree(p(port, '127.0.0.1'), 'ports[0]')).rejects.toMatchObject({
        code: 'port_in_use',
      });
    } finally {
      await new Promise((r) => srv.close(r));
    }
    await expect(checkHostPortFree(p(port, '127.0.0.1'), 'ports[0]')).resolves.toBeUndefined();
    await expect(checkHostPortFree(p(port, '192.0.2.254'), 'ports[0]')).rejects.toMatchObject({
      code: 'invalid_argument',
    });
  });
});
