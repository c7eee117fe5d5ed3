// A real registry for tests: Debian's docker-registry (the reference distribution registry) on
// loopback with its own port and storage, images built with umoci and pushed with skopeo, and
// a loopback gateway in front of it that can demand bearer tokens, cut blob downloads short,
// or throttle them. Everything started here is stopped by the returned `stop()`.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { dirname, join } from 'node:path';
import bcrypt from 'bcryptjs';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface TestRegistry {
  host: string;
  stop(): Promise<void>;
}

async function waitForHttp(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`registry exited: ${log()}`);
    try {
      const r = await fetch(url);
      await r.body?.cancel();
      if (r.status === 200 || r.status === 401) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`registry did not come up: ${log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

/** Starts docker-registry on 127.0.0.1 with storage under `dir`; `auth` turns on htpasswd. */
export async function startRegistry(
  dir: string,
  auth?: { username: string; password: string },
): Promise<TestRegistry> {
  const port = await freePort();
  mkdirSync(join(dir, 'storage'), { recursive: true });
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'storage')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
  ];
  if (auth) {
    writeFileSync(join(dir, 'htpasswd'), `${auth.username}:${bcrypt.hashSync(auth.password, 10)}\n`);
    lines.push('auth:', '  htpasswd:', '    realm: berth-test', `    path: ${join(dir, 'htpasswd')}`);
  }
  writeFileSync(join(dir, 'config.yml'), `${lines.join('\n')}\n`);
  const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  try {
    await waitForHttp(`http://127.0.0.1:${port}/v2/`, child, () => out);
  } catch (e) {
    await stopChild(child);
    throw e;
  }
  return { host: `127.0.0.1:${port}`, stop: () => stopChild(child) };
}

export interface GatewayOptions {
  /** Demand `Authorization: Bearer` tokens from a token endpoint the gateway serves itself. */
  bearer?: boolean;
  /** Cut the first N blob downloads after this many body bytes. */
  cutBlobAfter?: { bytes: number; times: number };
  /** Send blob bodies at about this many bytes per second. */
  throttleBytesPerSec?: number;
}

export interface Gateway {
  host: string;
  /** Every request line the gateway saw, with its Range header. */
  log: Array<{ method: string; path: string; range?: string; status?: number }>;
  tokensIssued: number;
  stop(): Promise<void>;
}

/** A loopback HTTP gateway in front of a registry (see GatewayOptions). */
export async function startGateway(upstream: string, opts: GatewayOptions = {}): Promise<Gateway> {
  const port = await freePort();
  const tokens = new Set<string>();
  let cutsLeft = opts.cutBlobAfter?.times ?? 0;
  const gw: Gateway = { host: `127.0.0.1:${port}`, log: [], tokensIssued: 0, stop: async () => {} };
  const server = http.createServer((req, res) => {
    const path = req.url ?? '/';
    const entry: Gateway['log'][number] = { method: req.method ?? 'GET', path, range: req.headers.range };
    gw.log.push(entry);
    if (opts.bearer) {
      if (path.startsWith('/token')) {
        const t = randomBytes(16).toString('hex');
        tokens.add(t);
        gw.tokensIssued++;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ token: t, expires_in: 300 }));
        return;
      }
      const auth = req.headers.authorization ?? '';
      if (!auth.startsWith('Bearer ') || !tokens.has(auth.slice(7))) {
        const scope = /^\/v2\/(.+)\/(?:manifests|blobs)\//.exec(path)?.[1];
        res.writeHead(401, {
          'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="berth-test"${scope ? `,scope="repository:${scope}:pull"` : ''}`,
          'content-type': 'application/json',
        });
        res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
        entry.status = 401;
        return;
      }
    }
    const headers = { ...req.headers, host: upstream };
    delete headers.authorization;
    const up = http.request(`http://${upstream}${path}`, { method: req.method, headers }, (upRes) => {
      entry.status = upRes.statusCode;
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      const isBlob = /\/blobs\/sha256:/.test(path) && req.method === 'GET';
      let sent = 0;
      const length = Number(upRes.headers['content-length'] ?? 0);
      const cut =
        isBlob && cutsLeft > 0 && opts.cutBlobAfter && length > opts.cutBlobAfter.bytes
          ? opts.cutBlobAfter.bytes
          : undefined;
      if (cut !== undefined) cutsLeft--;
      upRes.on('data', (chunk: Buffer) => {
        if (cut !== undefined && sent + chunk.length >= cut) {
          res.write(chunk.subarray(0, Math.max(0, cut - sent)));
          sent = cut;
          upRes.destroy();
          res.socket?.destroy();
          return;
        }
        sent += chunk.length;
        const ok = res.write(chunk);
        if (isBlob && opts.throttleBytesPerSec) {
          upRes.pause();
          setTimeout(() => upRes.resume(), (chunk.length / opts.throttleBytesPerSec) * 1000);
        } else if (!ok) {
          upRes.pause();
          res.once('drain', () => upRes.resume());
        }
      });
      upRes.on('end', () => res.end());
      upRes.on('error', () => res.destroy());
    });
    up.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  gw.stop = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return gw;
}

export interface BuiltImage {
  layout: string;
  tag: string;
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * Builds an OCI image layout with umoci: `from`'s layers (or none) plus one layer holding
 * `files` (path in image → content), with the given architecture and Cmd. (umoci unpack and
 * repack rather than `umoci insert`, whose 0.4.7 layers lack the tar end-of-archive blocks.)
 */
export function buildImage(
  layout: string,
  tag: string,
  files: Record<string, string | Buffer>,
  opts: { architecture?: string; cmd?: string[]; scratch: string; from?: string },
): BuiltImage {
  mkdirSync(opts.scratch, { recursive: true });
  if (!existsSync(join(layout, 'index.json'))) run('umoci', ['init', '--layout', layout]);
  if (!opts.from) run('umoci', ['new', '--image', `${layout}:${tag}`]);
  const bundle = join(opts.scratch, `bundle-${randomBytes(4).toString('hex')}`);
  run('umoci', ['unpack', '--image', `${layout}:${opts.from ?? tag}`, bundle]);
  for (const [path, content] of Object.entries(files)) {
    const dest = join(bundle, 'rootfs', path);
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, content);
  }
  run('umoci', ['repack', '--image', `${layout}:${tag}`, bundle]);
  rmSync(bundle, { recursive: true, force: true });
  const cfg = ['config', '--image', `${layout}:${tag}`];
  if (opts.architecture) cfg.push(`--architecture=${opts.architecture}`);
  for (const c of opts.cmd ?? ['/bin/sh']) cfg.push(`--config.cmd=${c}`);
  cfg.push('--config.env=PATH=/bin', '--config.workingdir=/srv', '--config.exposedports=8080/tcp');
  run('umoci', cfg);
  return { layout, tag };
}

export function push(
  img: BuiltImage,
  dest: string,
  opts: { creds?: string; compress?: 'zstd' | 'gzip'; format?: 'oci' | 'v2s2' } = {},
): void {
  const args = ['copy', '--quiet', '--dest-tls-verify=false'];
  if (opts.creds) args.push(`--dest-creds=${opts.creds}`);
  if (opts.compress) args.push(`--dest-compress-format=${opts.compress}`);
  if (opts.format) args.push(`--format=${opts.format}`);
  args.push(`oci:${img.layout}:${img.tag}`, `docker://${dest}`);
  run('skopeo', args);
}
