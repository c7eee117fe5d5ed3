// Root: the real bundled berthd with its TCP listener (TLS, self-signed at first start) on
// loopback, tokens made and revoked with `berthd token …` in another process, and the same
// router, image archives and Prometheus text behind it.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type MetricsTick, TERMINAL_PROTOCOL } from '@berth/contracts';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { BERTHD_BUNDLE, type BerthdProcess, startBerthd } from '../../test/berthd-process.ts';
import { parsePrometheus } from '../../test/prometheus.ts';
import { createAgentClient, openTerminal, terminalAddress } from '../client/index.ts';

let dir: string;
let berthd: BerthdProcess;
let url: string;
let ca: string;
let token: string;
const stateDir = () => join(dir, 'state');

function tokenCli(...args: string[]): string {
  return execFileSync(process.execPath, [BERTHD_BUNDLE, '--state-dir', stateDir(), 'token', ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function get(path: string, auth?: string) {
  const dispatcher = new Agent({ connect: { ca } });
  try {
    const res = await request(`${url}${path}`, { dispatcher, headers: auth ? { authorization: auth } : {} });
    return { status: res.statusCode, body: await res.body.text() };
  } finally {
    await dispatcher.close();
  }
}

beforeAll(async () => {
  dir = mkdtempSync('/tmp/berth-test-remote-');
  chmodSync(dir, 0o755);
  token = tokenCli('create', '--name', 'panel-1').trim();
  berthd = await startBerthd({
    socketPath: join(dir, 'berthd.sock'),
    stateDir: stateDir(),
    socketGroup: '0',
    extraArgs: ['--listen', '127.0.0.1:0'],
  });
  const port = /TLS on 127\.0\.0\.1:(\d+)/.exec(berthd.stderr())?.[1];
  url = `https://127.0.0.1:${port}`;
  ca = readFileSync(join(stateDir(), 'tls', 'cert.pem'), 'utf8');
}, 60_000);
afterAll(async () => {
  await berthd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the TLS listener', () => {
  it('prints the fingerprint of the self-signed certificate it made, and keeps the key root-only', () => {
    expect(token).toMatch(/^berth_[A-Za-z0-9_-]{43}$/);
    const fingerprint = new X509Certificate(ca).fingerprint256;
    expect(berthd.stderr()).toContain(
      `certificate SHA-256 fingerprint ${fingerprint} (self-signed, generated now:`,
    );
    expect(statSync(join(stateDir(), 'tls', 'key.pem')).mode & 0o777).toBe(0o600);
  });

  it('serves the API to a client with a valid token', async () => {
    const facts = await createAgentClient({ url, token, ca }).host.facts.query();
    expect(facts.cpus).toBeGreaterThan(0);
    const images = await createAgentClient({ url, token, ca }).image.list.query();
    expect(images.map((i) => i.references[0])).toContain('berth.local/minimal:latest');
  });

  it('refuses a wrong token and a missing one with 401 and a sentence', async () => {
    const wrong = await get('/trpc/host.facts', `Bearer ${token.slice(0, -2)}xx`);
    expect(wrong.status).toBe(401);
    expect(JSON.parse(wrong.body)).toEqual({
      code: 'UNAUTHENTICATED',
      message: 'the bearer token is not valid (unknown or revoked)',
    });
    const none = await get('/trpc/host.facts');
    expect(none.status).toBe(401);
    expect(JSON.parse(none.body).message).toMatch(/^a bearer token is required/);
    await expect(createAgentClient({ url, token: 'berth_nope', ca }).host.facts.query()).rejects.toThrow();
  });

  it('refuses a client that does not trust the certificate', async () => {
    await expect(createAgentClient({ url, token }).host.facts.query()).rejects.toThrow();
  });

  it('serves Prometheus text on /metrics (token required) that parses', async () => {
    expect((await get('/metrics')).status).toBe(401);
    const res = await get('/metrics', `Bearer ${token}`);
    expect(res.status).toBe(200);
    const series = parsePrometheus(res.body);
    expect(series.get('berth_memory_limit_bytes{id="host",name="host",kind="host"}')).toBeGreaterThan(0);
    expect([...series.keys()].some((k) => k.startsWith('berth_cpu_seconds_total{id="host"'))).toBe(true);
  });

  it('lists tokens without the secrets, and a revoked token stops working at the next request', async () => {
    const second = tokenCli('create', '--name', 'panel-2').trim();
    expect((await get('/trpc/host.facts', `Bearer ${second}`)).status).toBe(200);
    const list = JSON.parse(tokenCli('ls', '--format', 'json')) as Array<{
      name: string;
      lastUsedAt: string | null;
    }>;
    expect(list.map((t) => t.name)).toEqual(['panel-1', 'panel-2']);
    expect(JSON.stringify(list)).not.toContain(second);
    expect(list[1]!.lastUsedAt).not.toBeNull();
    expect(tokenCli('revoke', 'panel-2')).toMatch(/^revoked token panel-2 \(id [0-9a-f]{12}\)\n$/);
    expect((await get('/trpc/host.facts', `Bearer ${second}`)).status).toBe(401);
    expect((await get('/trpc/host.facts', `Bearer ${token}`)).status).toBe(200);
  });
});

describe('metrics through berthd', () => {
  it('streams live ticks and answers history at 1 s resolution', async () => {
    const client = createAgentClient({ socketPath: join(dir, 'berthd.sock') });
    const ticks = await new Promise<MetricsTick[]>((resolve, reject) => {
      const got: MetricsTick[] = [];
      const sub = client.metrics.watch.subscribe(
        { targets: ['host'] },
        {
          onData(t) {
            got.push(t);
            if (got.length === 3) {
              sub.unsubscribe();
              resolve(got);
            }
          },
          onError: reject,
        },
      );
    });
    expect(ticks.map((t) => t.samples.map((s) => s.target))).toEqual([['host'], ['host'], ['host']]);
    expect(ticks[2]!.t).toBeGreaterThan(ticks[0]!.t);
    expect(ticks[2]!.samples[0]!.memoryBytes).toBeGreaterThan(0);
    const history = await client.metrics.history.query({ target: 'host', stepSec: 1 });
    expect(history.resolution).toBe('1s');
    expect(history.points.length).toBeGreaterThanOrEqual(3);
    await expect(client.metrics.history.query({ target: 'nothere', stepSec: 60, from: 0 })).rejects.toThrow(
      'metrics target nothere not found',
    );
    await expect(client.metrics.history.query({ target: 'host', from: 10, to: 5 })).rejects.toThrow(
      'invalid from: must not be after "to"',
    );
  });
});

describe('terminals on the TLS listener', () => {
  const open = {
    type: 'open',
    kind: 'shell',
    name: 'no-such-container',
    cols: 80,
    rows: 24,
    actor: 'panel:test',
  } as const;

  it('reach the terminal endpoint with a valid token (and get its answer in a frame)', async () => {
    const term = openTerminal({ url, token, ca }, open, { onOutput: () => {} });
    const end = await term.ended;
    expect(end.error).toEqual({ code: 'NOT_FOUND', message: 'no container named no-such-container' });
  });

  it('refuse the websocket with 401 before it exists, without a token or with a wrong one', async () => {
    await expect(
      openTerminal({ url, token: 'berth_wrong', ca }, open, { onOutput: () => {} }).ended,
    ).rejects.toThrow('the bearer token is not valid (unknown or revoked)');
    const { url: wsUrl, wsOptions } = terminalAddress({ url, token, ca });
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const ws = new WebSocket(wsUrl, TERMINAL_PROTOCOL, { ...wsOptions, headers: {} });
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode);
        ws.terminate();
      });
      ws.on('open', () => reject(new Error('opened without a token')));
      ws.on('error', () => {});
    });
    expect(status).toBe(401);
  });
});
