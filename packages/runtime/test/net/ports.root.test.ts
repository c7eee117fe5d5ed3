// Root: published ports (DNAT from the host's loopback and addresses, hairpin from containers)
// and what containers may reach on the host itself. Containers here include one whose
// namespace is held only by a process (referred to by pid, like the runtime's).
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { NetError } from '../../src/net/errors.ts';
import { freePort, httpGet, inNs, ping, spawnInNs, testSubnet, useHarness } from './harness.ts';

describe('published ports and the host (root)', () => {
  const harness = useHarness();

  it('forwards a host port to a container: from loopback, hairpin via the gateway, from another network', async () => {
    const h = harness();
    const m = await h.manager();
    const n1 = await m.createNetwork({ name: `p1-${h.id}`, bridge: h.bridge(), subnet: testSubnet() });
    let s2 = testSubnet();
    while (s2 === n1.subnet) s2 = testSubnet();
    const n2 = await m.createNetwork({ name: `p2-${h.id}`, bridge: h.bridge(), subnet: s2 });
    const web = await h.processNs();
    const client = await h.netns();
    const other = await h.netns();
    const hp = await freePort();
    const ew = await m.attach({
      containerId: `web-${h.id}`,
      network: n1.name,
      netns: { pid: web.pid },
      hostname: 'web',
      ports: [{ hostPort: hp, containerPort: 8080 }],
    });
    await m.attach({
      containerId: `cl-${h.id}`,
      network: n1.name,
      netns: { path: client.path },
      hostname: 'cl',
    });
    const eo = await m.attach({
      containerId: `ot-${h.id}`,
      network: n2.name,
      netns: { path: other.path },
      hostname: 'ot',
    });
    await h.httpd(web, 8080, 'published');

    expect(await httpGet(undefined, '127.0.0.1', hp)).toBe('published');
    // Hairpin: a container on the same network through the host's address (its gateway).
    expect(await httpGet(client, n1.gateway, hp)).toBe('published');
    // Published ports are public: a container on another network reaches it through the host,
    // though it cannot reach the container itself.
    expect(await httpGet(other, n2.gateway, hp)).toBe('published');
    expect(await httpGet(other, ew.ip, 8080)).toBeUndefined();
    expect(await ping(other, ew.ip)).toBe(false);
    expect(eo.ip).not.toBe(ew.ip);

    // Only that port: the container's other ports are not published.
    await h.httpd(web, 8081, 'private');
    expect(await httpGet(client, ew.ip, 8081)).toBe('private');
    expect(await httpGet(other, n2.gateway, 8081)).toBeUndefined();

    // Detach: the forward goes with the container.
    await m.detach(ew.containerId);
    expect(await httpGet(undefined, '127.0.0.1', hp)).toBeUndefined();
  });

  it('forwards UDP on a chosen host address', async () => {
    const h = harness();
    const m = await h.manager();
    const n = await m.createNetwork({ name: `u-${h.id}`, bridge: h.bridge(), subnet: testSubnet() });
    const c = await h.netns();
    const hp = await freePort();
    const ep = await m.attach({
      containerId: `u-${h.id}`,
      network: n.name,
      netns: { path: c.path },
      hostname: 'u',
      ports: [{ protocol: 'udp', hostAddress: '127.0.0.1', hostPort: hp, containerPort: 9999 }],
    });
    // A UDP echo server in the container (Node: busybox here has no UDP nc).
    const srv = spawnInNs(h, c, [
      process.execPath,
      '-e',
      `const s=require('node:dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(Buffer.concat([Buffer.from('echo:'),m]),r.port,r.address));s.bind(9999,'${ep.ip}',()=>console.log('ready'))`,
    ]);
    await new Promise((r) => srv.stdout!.once('data', r));
    const dgram = await import('node:dgram');
    const sock = dgram.createSocket('udp4');
    h.defer(async () => sock.close());
    const reply = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no UDP reply')), 5000);
      sock.on('message', (msg) => {
        clearTimeout(timer);
        resolve(msg.toString());
      });
      sock.send('ping', hp, '127.0.0.1');
    });
    expect(reply).toBe('echo:ping');
  });

  it('refuses a port published twice or in use on the host, changing nothing', async () => {
    const h = harness();
    const m = await h.manager();
    const n = await m.createNetwork({ name: `d-${h.id}`, bridge: h.bridge(), subnet: testSubnet() });
    const [a, b] = [await h.netns(), await h.netns()];
    const hp = await freePort();
    await m.attach({
      containerId: `a-${h.id}`,
      network: n.name,
      netns: { path: a.path },
      hostname: 'a',
      ports: [{ hostPort: hp, containerPort: 80 }],
    });
    const before = m.renderFirewall();
    const err = await m
      .attach({
        containerId: `b-${h.id}`,
        network: n.name,
        netns: { path: b.path },
        hostname: 'b',
        ports: [{ hostAddress: '127.0.0.1', hostPort: hp, containerPort: 80 }],
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetError);
    expect(err).toMatchObject({ code: 'port_in_use', field: 'ports[0]' });
    // A host service on a port: refused too.
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    h.defer(() => new Promise((r) => srv.close(r)));
    const used = (srv.address() as net.AddressInfo).port;
    await expect(
      m.attach({
        containerId: `b-${h.id}`,
        network: n.name,
        netns: { path: b.path },
        hostname: 'b',
        ports: [{ hostAddress: '127.0.0.1', hostPort: used, containerPort: 80 }],
      }),
    ).rejects.toMatchObject({ code: 'port_in_use' });
    expect(m.getEndpoint(`b-${h.id}`)).toBeUndefined();
    expect(m.renderFirewall()).toBe(before);
    expect((await inNs(b, ['ip', '-o', 'link', 'show', 'eth0'])).code).not.toBe(0);
  });

  it('keeps the host closed to containers: only DNS on the gateway and published ports', async () => {
    const h = harness();
    const m = await h.manager();
    const n = await m.createNetwork({ name: `h-${h.id}`, bridge: h.bridge(), subnet: testSubnet() });
    const c = await h.netns();
    await m.attach({ containerId: `c-${h.id}`, network: n.name, netns: { path: c.path }, hostname: 'c' });
    // A host service on every address (like an agent's TCP listener or the panel).
    const conns = new Set<net.Socket>();
    const srv = net.createServer((s) => {
      conns.add(s);
      s.on('error', () => {});
      s.end('HTTP/1.0 200 OK\r\n\r\nhost service', () => s.destroy());
    });
    await new Promise<void>((r) => srv.listen(0, '0.0.0.0', () => r()));
    h.defer(() => {
      for (const c of conns) c.destroy();
      return new Promise((r) => srv.close(r));
    });
    const port = (srv.address() as net.AddressInfo).port;
    expect(await httpGet(undefined, n.gateway, port)).toBe('host service'); // the host itself can
    expect(await httpGet(c, n.gateway, port)).toBeUndefined();
    expect(await ping(c, n.gateway)).toBe(true);
    expect((await inNs(c, ['busybox', 'nslookup', 'c', n.gateway])).code).toBe(0);
  });
});
