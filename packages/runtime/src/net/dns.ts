// Name resolution for containers: the files written into them (resolv.conf, hosts, hostname),
// the host's upstream resolvers, and a small responder per network on the gateway address
// that answers the network's container names and relays everything else upstream.
// Packets are parsed and built with dns-packet (a well-kept library used by mDNS and DoH
// stacks): DNS compression, label rules and EDNS are easy to get subtly wrong by hand.
import dgram from 'node:dgram';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import { familyOf } from './addr.ts';

export interface Upstream {
  address: string;
  port: number;
}

export interface ResolverConfig {
  nameservers: string[];
  search: string[];
  options: string[];
}

export function parseResolvConf(text: string): ResolverConfig {
  const cfg: ResolverConfig = { nameservers: [], search: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*/, '').trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0]) cfg.nameservers.push(rest[0].replace(/%.*$/, ''));
    else if (key === 'search' || key === 'domain') cfg.search = rest;
    else if (key === 'options') cfg.options.push(...rest);
  }
  return cfg;
}

// Loopback resolvers are the host's own; link-local ones need the host's zone (interface).
const unreachable = (a: string): boolean => a.startsWith('127.') || a === '::1' || /^fe80:/i.test(a);

/** The host's real upstream resolvers. With systemd-resolved's stub (127.0.0.53) in
 * /etc/resolv.conf, its upstream list is in /run/systemd/resolve/resolv.conf. Loopback and
 * link-local resolvers are dropped: containers cannot use them. */
export async function hostResolvers(
  paths = { resolvConf: '/etc/resolv.conf', resolvedUpstream: '/run/systemd/resolve/resolv.conf' },
): Promise<ResolverConfig> {
  const read = (p: string): Promise<string> => readFile(p, 'utf8').catch(() => '');
  let cfg = parseResolvConf(await read(paths.resolvConf));
  if (cfg.nameservers.some((n) => n === '127.0.0.53' || n === '127.0.0.54')) {
    const up = parseResolvConf(await read(paths.resolvedUpstream));
    if (up.nameservers.length > 0) cfg = { ...up, search: up.search.length ? up.search : cfg.search };
  }
  return { ...cfg, nameservers: cfg.nameservers.filter((n) => !unreachable(n)) };
}

export function renderResolvConf(cfg: ResolverConfig): string {
  const lines = ['# Written by Berth.'];
  if (cfg.search.length) lines.push(`search ${cfg.search.join(' ')}`);
  for (const n of cfg.nameservers) lines.push(`nameserver ${n}`);
  if (cfg.options.length) lines.push(`options ${cfg.options.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

export interface HostsEntry {
  hostname: string;
  domain?: string;
  ip?: string;
  ip6?: string;
  aliases?: string[];
}

export function renderHosts(e: HostsEntry): string {
  const names = (fqdn: boolean): string =>
    [...(fqdn && e.domain ? [`${e.hostname}.${e.domain}`] : []), e.hostname, ...(e.aliases ?? [])].join(' ');
  const lines = [
    '# Written by Berth.',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
  ];
  if (e.ip) lines.push(`${e.ip}\t${names(true)}`);
  if (e.ip6) lines.push(`${e.ip6}\t${names(true)}`);
  if (!e.ip && !e.ip6) lines.push(`127.0.1.1\t${names(false)}`);
  return `${lines.join('\n')}\n`;
}

export const renderHostname = (hostname: string): string => `${hostname}\n`;

export interface NameRecord {
  a: string[];
  aaaa: string[];
}

export interface ResponderOptions {
  /** Address to listen on (the network's gateway). */
  address: string;
  port?: number;
  domain: string;
  /** Looks a bare name (lower case, domain stripped) up on this network. */
  lookup: (name: string) => NameRecord | undefined;
  upstreams: Upstream[];
  /** Per upstream attempt. */
  timeoutMs?: number;
  ttl?: number;
}

type Question = dnsPacket.Question;

/** One network's DNS responder (UDP and TCP). */
export class DnsResponder {
  private udp?: dgram.Socket;
  private tcp?: net.Server;
  private readonly conns = new Set<net.Socket>();
  constructor(readonly opts: ResponderOptions) {}

  async start(): Promise<void> {
    const { address } = this.opts;
    const port = this.opts.port ?? 53;
    const udp = dgram.createSocket({ type: familyOf(address) === 6 ? 'udp6' : 'udp4' });
    udp.on('message', (msg, rinfo) => {
      void this.answer(msg, 'udp').then((reply) => {
        if (reply) udp.send(reply, rinfo.port, rinfo.address);
      });
    });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, address, () => {
        udp.off('error', reject);
        udp.on('error', () => {});
        resolve();
      });
    });
    this.udp = udp;
    const tcp = net.createServer((sock) => this.serveTcp(sock));
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(port, address, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
    this.tcp = tcp;
  }

  async stop(): Promise<void> {
    for (const c of this.conns) c.destroy();
    await new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r()));
    await new Promise<void>((r) => (this.udp ? this.udp.close(() => r()) : r()));
    this.udp = undefined;
    this.tcp = undefined;
  }

  private serveTcp(sock: net.Socket): void {
    this.conns.add(sock);
    sock.setTimeout(10_000, () => sock.destroy());
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        void this.answer(msg, 'tcp').then((reply) => {
          if (!reply || sock.destroyed) return;
          const head = Buffer.alloc(2);
          head.writeUInt16BE(reply.length);
          sock.write(Buffer.concat([head, reply]));
        });
      }
      if (buf.length > 65_537) sock.destroy();
    });
    sock.on('error', () => {});
    sock.on('close', () => this.conns.delete(sock));
  }

  /** Builds the reply to one query (undefined: drop it, e.g. not a query). */
  async answer(msg: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    let q: dnsPacket.DecodedPacket;
    try {
      q = dnsPacket.decode(msg);
    } catch {
      return undefined;
    }
    if (q.type !== 'query') return undefined;
    const question = q.questions?.[0];
    if (!question || (q.questions?.length ?? 0) !== 1) return this.reply(q, [], 1 /* FORMERR */);
    const local = this.local(question);
    if (local) return this.reply(q, local.answers, local.rcode);
    return (await this.forward(msg, transport)) ?? this.reply(q, [], 2 /* SERVFAIL */);
  }

  private local(question: Question): { answers: dnsPacket.Answer[]; rcode: number } | undefined {
    const name = question.name.toLowerCase().replace(/\.$/, '');
    const domain = this.opts.domain.toLowerCase();
    let bare: string;
    if (name.endsWith(`.${domain}`)) bare = name.slice(0, -(domain.length + 1));
    else if (!name.includes('.')) bare = name;
    else return undefined; // not ours: upstream
    const rec = bare && !bare.includes('.') ? this.opts.lookup(bare) : undefined;
    if (!rec) return { answers: [], rcode: 3 /* NXDOMAIN */ };
    const ttl = this.opts.ttl ?? 10;
    const answers: dnsPacket.Answer[] = [];
    const type: string = question.type;
    if (type === 'A' || type === 'ANY')
      for (const data of rec.a) answers.push({ type: 'A', name: question.name, ttl, class: 'IN', data });
    if (type === 'AAAA' || type === 'ANY')
      for (const data of rec.aaaa)
        answers.push({ type: 'AAAA', name: question.name, ttl, class: 'IN', data });
    return { answers, rcode: 0 };
  }

  private reply(q: dnsPacket.DecodedPacket, answers: dnsPacket.Answer[], rcode: number): Buffer {
    const rd = (q.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
    return dnsPacket.encode({
      type: 'response',
      id: q.id,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_AVAILABLE | rd | rcode,
      questions: q.questions,
      answers,
    });
  }

  /** Relays the query as is (same id, same flags) to each upstream in turn. */
  private async forward(msg: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    for (const up of this.opts.upstreams) {
      const reply = transport === 'udp' ? await this.forwardUdp(msg, up) : await this.forwardTcp(msg, up);
      if (reply) return reply;
    }
    return undefined;
  }

  private forwardUdp(msg: Buffer, up: Upstream): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const sock = dgram.createSocket(familyOf(up.address) === 6 ? 'udp6' : 'udp4');
      const done = (r: Buffer | undefined): void => {
        clearTimeout(timer);
        sock.close();
        resolve(r);
      };
      const timer = setTimeout(() => done(undefined), this.opts.timeoutMs ?? 2000);
      sock.on('error', () => done(undefined));
      sock.on('message', (reply, rinfo) => {
        // Only the upstream we asked, with the id we sent.
        if (rinfo.port !== up.port || reply.length < 2 || reply.readUInt16BE(0) !== msg.readUInt16BE(0))
          return;
        done(reply);
      });
      sock.send(msg, up.port, up.address);
    });
  }

  private forwardTcp(msg: Buffer, up: Upstream): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const sock = net.connect(up.port, up.address);
      let buf = Buffer.alloc(0);
      const done = (r: Buffer | undefined): void => {
        clearTimeout(timer);
        sock.destroy();
        resolve(r);
      };
      const timer = setTimeout(() => done(undefined), this.opts.timeoutMs ?? 2000);
      sock.on('error', () => done(undefined));
      sock.on('connect', () => {
        const head = Buffer.alloc(2);
        head.writeUInt16BE(msg.length);
        sock.write(Buffer.concat([head, msg]));
      });
      sock.on('data', (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0))
          done(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      });
    });
  }
}
