import dgram from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { DnsResponder, hostResolvers, parseResolvConf, renderHosts, renderResolvConf } from './dns.ts';

const datas = (p: dnsPacket.DecodedPacket): unknown[] =>
  (p.answers ?? []).map((a) => (a as { data?: unknown }).data);
// dns-packet decodes the rcode; its typings do not declare it.
const rcode = (p: dnsPacket.DecodedPacket): unknown => (p as { rcode?: string }).rcode;

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function query(
  port: number,
  name: string,
  type: 'A' | 'AAAA' = 'A',
  id = 4242,
): Promise<dnsPacket.DecodedPacket> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error('timeout'));
    }, 3000);
    sock.on('message', (m) => {
      clearTimeout(timer);
      sock.close();
      resolve(dnsPacket.decode(m));
    });
    sock.send(
      dnsPacket.encode({
        type: 'query',
        id,
        flags: dnsPacket.RECURSION_DESIRED,
        questions: [{ type, name }],
      }),
      port,
      '127.0.0.1',
    );
  });
}

/** A fake upstream resolver on loopback that answers every A query with 192.0.2.7. */
async function fakeUpstream(): Promise<number> {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (m, r) => {
    const q = dnsPacket.decode(m);
    sock.send(
      dnsPacket.encode({
        type: 'response',
        id: q.id,
        flags: dnsPacket.RECURSION_AVAILABLE,
        questions: q.questions,
        answers: [{ type: 'A', name: q.questions![0]!.name, ttl: 60, data: '192.0.2.7' }],
      }),
      r.port,
      r.address,
    );
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  cleanups.push(() => sock.close());
  return sock.address().port;
}

async function responder(upstreamPort?: number): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const r = new DnsResponder({
    address: '127.0.0.1',
    port,
    domain: 'berth.internal',
    lookup: (n) => (n === 'web' ? { a: ['10.87.0.5'], aaaa: ['fd00::5'] } : undefined),
    upstreams: upstreamPort ? [{ address: '127.0.0.1', port: upstreamPort }] : [],
    timeoutMs: 500,
  });
  await r.start();
  cleanups.push(() => r.stop());
  return port;
}

describe('DNS responder', () => {
  it('answers the network names, bare and in its domain, and NXDOMAIN for others there', async () => {
    const port = await responder();
    const a = await query(port, 'web');
    expect(a.id).toBe(4242);
    expect(datas(a)).toEqual(['10.87.0.5']);
    expect(datas(await query(port, 'WEB.berth.internal', 'AAAA'))).toEqual(['fd00::5']);
    const nx = await query(port, 'db.berth.internal');
    expect(rcode(nx)).toBe('NXDOMAIN');
    expect(nx.answers).toEqual([]);
  });

  it('relays other names upstream (keeping the id), SERVFAIL when none answers', async () => {
    const port = await responder(await fakeUpstream());
    const r = await query(port, 'example.org', 'A', 777);
    expect(r.id).toBe(777);
    expect(datas(r)).toEqual(['192.0.2.7']);
    const lonely = await responder();
    expect(rcode(await query(lonely, 'example.org'))).toBe('SERVFAIL');
  });

  it('answers over TCP too', async () => {
    const port = await responder();
    const sock = net.connect(port, '127.0.0.1');
    cleanups.push(() => sock.destroy());
    const reply = await new Promise<dnsPacket.DecodedPacket>((resolve) => {
      let buf = Buffer.alloc(0);
      sock.on('data', (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0))
          resolve(dnsPacket.decode(buf.subarray(2)));
      });
      const msg = dnsPacket.encode({ type: 'query', id: 9, questions: [{ type: 'A', name: 'web' }] });
      const head = Buffer.alloc(2);
      head.writeUInt16BE(msg.length);
      sock.write(Buffer.concat([head, msg]));
    });
    expect(datas(reply)).toEqual(['10.87.0.5']);
  });
});

describe('resolver files', () => {
  it('follows systemd-resolved stub to its upstream list and drops loopback resolvers', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-test-dns-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(
      join(dir, 'stub'),
      'nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch corp.example\n',
    );
    await writeFile(
      join(dir, 'up'),
      '# upstream\nnameserver 192.0.2.53\nnameserver 127.0.0.1\nnameserver fe80::1%eth0\n',
    );
    const cfg = await hostResolvers({ resolvConf: join(dir, 'stub'), resolvedUpstream: join(dir, 'up') });
    expect(cfg.nameservers).toEqual(['192.0.2.53']);
    expect(cfg.search).toEqual(['corp.example']);
    const plain = await hostResolvers({ resolvConf: join(dir, 'up'), resolvedUpstream: join(dir, 'none') });
    expect(plain.nameservers).toEqual(['192.0.2.53']);
  });

  it('renders resolv.conf and hosts', () => {
    const text = renderResolvConf({
      nameservers: ['10.87.0.1'],
      search: ['berth.internal'],
      options: ['ndots:1'],
    });
    expect(parseResolvConf(text)).toEqual({
      nameservers: ['10.87.0.1'],
      search: ['berth.internal'],
      options: ['ndots:1'],
    });
    const hosts = renderHosts({
      hostname: 'web',
      domain: 'berth.internal',
      ip: '10.87.0.5',
      aliases: ['www'],
    });
    expect(hosts).toContain('127.0.0.1\tlocalhost');
    expect(hosts).toContain('10.87.0.5\tweb.berth.internal web www');
    expect(renderHosts({ hostname: 'solo' })).toContain('127.0.1.1\tsolo');
  });
});
