import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, chownSync, lstatSync, mkdirSync, statSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import type { AgentPolicy } from '@berth/contracts';
import { type CgroupLayout, detectHostCgroupLayout } from '@berth/runtime/cgroup';
import { defaultSeccompProfile } from '@berth/runtime/seccomp';
import { endOrphanShells, openConsole } from './attach/sessions.ts';
import { ShellSessions } from './attach/shells.ts';
import { terminalServer } from './attach/terminals.ts';
import { loadPolicy } from './config.ts';
import { ContainerNetworks } from './containers/network.ts';
import { autostart, recover } from './containers/recovery.ts';
import { ContainerService } from './containers/service.ts';
import type { AgentContext } from './context.ts';
import { type AgentDb, openAgentDb } from './db/index.ts';
import { EventLog } from './events/log.ts';
import { GroupService } from './groups/service.ts';
import { hostService } from './host/facts.ts';
import { requestTraces, trpcHandler } from './http.ts';
import { handleImageArchives } from './images/http.ts';
import { imagesService } from './images/service.ts';
import { feedMetrics } from './metrics/feed.ts';
import { metricsService } from './metrics/service.ts';
import { NetworkService } from './networks/service.ts';
import { type RemoteListener, startRemoteListener } from './remote/index.ts';
import { agentRouter } from './router.ts';
import { type ImageAdapter, storeImages } from './runtime/images.ts';
import { loadRealRuntime } from './runtime/real.ts';
import type { ContainerRuntime } from './runtime/types.ts';
import { startTrace, traceClock } from './trace.ts';
import { AGENT_VERSION } from './version.ts';
import { VolumeService } from './volumes/service.ts';

export interface AgentConfig {
  /** The Unix socket berthd serves its API on. */
  socketPath: string;
  /** berthd's private state (its database), made mode 0700. */
  stateDir: string;
  /** Group (name or numeric gid) that may use the socket: it is made root:<group> 0660. */
  socketGroup: string;
  /** Registries (host[:port]) pulled from over plain HTTP instead of HTTPS. */
  insecureRegistries?: string[];
  /** The Debian mirror for debootstrap builds (default: deb.debian.org). */
  debianMirror?: string;
  /** The agent's config file (policy); absent: the defaults. */
  configFile?: string;
  /** The runtime's state root (monitors, console logs); default <stateDir>/runtime. */
  runtimeRoot?: string;
  /** Overrides for tests: policy, and a fake runtime/image store injected explicitly. */
  policy?: AgentPolicy;
  runtime?: ContainerRuntime;
  images?: ImageAdapter;
  /**
   * TCP address ("host:port") for remote panels: TLS and a bearer token on every request.
   * Off when absent.
   */
  listen?: string;
  /** The listener's certificate and key (PEM files); a self-signed pair is made otherwise. */
  tlsCert?: string;
  tlsKey?: string;
  migrationsDir?: string;
  procRoot?: string;
}

export const AGENT_DEFAULTS = {
  socketPath: '/run/berth/berthd.sock',
  stateDir: '/var/lib/berth/agent',
  socketGroup: 'berth',
} as const;

export interface RunningAgent {
  readonly socketPath: string;
  readonly db: AgentDb;
  /** The TCP listener, when configured. */
  readonly remote?: RemoteListener;
  close(): Promise<void>;
}

/**
 * Start berthd: check the config, prepare the state dir and the database (migrated), then
 * serve the tRPC router on the socket. Fails before touching anything when the socket group
 * does not exist or another berthd already listens on the socket.
 */
export async function startAgent(config: AgentConfig): Promise<RunningAgent> {
  const startedAt = Date.now();
  const gid = resolveGroup(config.socketGroup);
  await refuseLiveSocket(config.socketPath);

  // 0711 (the state dir and any parent berthd makes for it): others may not list them, only
  // pass through to container roots by their names (the runtime binds a root from inside the
  // container's user namespace; see runtime/images.ts).
  const made = mkdirSync(config.stateDir, { recursive: true, mode: 0o711 });
  for (let d = config.stateDir; made && d.length >= made.length; d = dirname(d)) chmodSync(d, 0o711);
  chmodSync(config.stateDir, 0o711);
  warnUntraversable(dirname(config.stateDir));
  const dbFile = join(config.stateDir, 'agent.db');
  const db = await openAgentDb(dbFile, config.migrationsDir, { checkpointEveryMs: 1000 });
  chmodSync(dbFile, 0o600);
  await db.agentMeta.upsert({
    where: { key: 'agentId' },
    create: { key: 'agentId', value: randomUUID() },
    update: {},
  });
  await db.agentEvent.create({
    data: {
      kind: 'agent.started',
      at: new Date(startedAt),
      data: JSON.stringify({ version: AGENT_VERSION, pid: process.pid }),
    },
  });

  let events: EventLog | undefined; // made below; image events before it are not logged
  const images = imagesService({
    stateDir: config.stateDir,
    db,
    insecureRegistries: config.insecureRegistries ?? [],
    ...(config.debianMirror ? { debianMirror: config.debianMirror } : {}),
    onEvent: (kind, data, actor) => {
      events
        ?.append(kind, { actor, data })
        .catch((err: Error) => console.error(`berthd: event: ${err.message}`));
    },
    // Containers recorded with the image, even before (or after) their root exists.
    containersUsing: (digest) =>
      db.container.findMany({ where: { imageDigest: digest }, select: { id: true, name: true } }),
  });
  // The built-in image makes a first container possible offline; without busybox-static
  // berthd still serves everything else.
  await images.ensureBuiltin().catch((err: Error) => console.error(`berthd: built-in image: ${err.message}`));

  const policy = config.policy ?? loadPolicy(config.configFile);
  events = new EventLog(db, policy.eventHistory);
  const runtime =
    config.runtime ??
    (await loadRealRuntime({ root: config.runtimeRoot ?? join(config.stateDir, 'runtime') }));
  const groups = new GroupService({ db, events, runtime, policy });
  const networks = new ContainerNetworks(policy.network, config.stateDir);
  let seccompProfile: unknown;
  const containers = new ContainerService({
    db,
    events,
    runtime,
    images: config.images ?? storeImages(images.store),
    policy,
    stateDir: config.stateDir,
    seccomp: config.runtime ? undefined : () => (seccompProfile ??= defaultSeccompProfile()),
    groupPath: (name) => groups.path(name),
    networks,
  });
  const volumes = new VolumeService({ db, events, dirOf: (name) => containers.volumeDir(name) });
  const networkApi = new NetworkService({ db, events, networks });
  const unavailable = runtime.unavailableReason();
  if (unavailable) console.error(`berthd: containers cannot run: ${unavailable}`);
  const recovered = await recover(containers);
  const orphans = endOrphanShells(config.stateDir);
  if (orphans.length > 0)
    console.error(`berthd: shells left by an earlier berthd ended: ${orphans.join(', ')}`);
  // Shell sessions outlive berthd: the ones still running are adopted.
  const shells = new ShellSessions({
    stateDir: config.stateDir,
    runtime,
    events,
    idleTimeoutSec: policy.shellIdleTimeoutSec,
    scrollbackBytes: policy.shellScrollbackBytes,
  });
  const adoptedShells = await shells.adopt();
  if (adoptedShells.adopted.length > 0)
    console.error(`berthd: shell sessions adopted: ${adoptedShells.adopted.join(', ')}`);
  if (adoptedShells.abandoned.length > 0)
    console.error(`berthd: shell sessions that never started ended: ${adoptedShells.abandoned.join(', ')}`);
  // Berth's nftables tables, bridges and DNS responders rebuilt from the network state
  // (idempotent); leases of containers that are gone or no longer running (they exited while
  // berthd was down, or a crash left them between attach and start) are released.
  try {
    const live = await db.container.findMany({
      where: { state: { in: ['running', 'paused'] } },
      select: { id: true },
    });
    const known = new Set(live.map((r) => r.id));
    const pruned = await networks.restore((id) => known.has(id));
    if (pruned.length > 0) console.error(`berthd: network leases released: ${pruned.join(', ')}`);
  } catch (e) {
    console.error(`berthd: restoring networks: ${(e as Error).message}`);
  }
  if (recovered.adopted.length > 0) console.error(`berthd: adopted ${recovered.adopted.join(', ')}`);
  const autostartAbort = new AbortController();

  // Sampling starts with the agent; the container service registers its containers in
  // metrics.targets.
  const metrics = metricsService({
    db,
    // The host's cgroup layout read once, not for every container the sampler is given.
    ...(config.procRoot ? { procRoot: config.procRoot } : { layout: hostCgroupLayout() }),
    isBerthLink: (name) => networks.isOwnLink(name),
  });
  metrics.start();
  const metricsFeed = new AbortController();
  feedMetrics({
    db,
    events,
    targets: metrics.targets,
    groupPath: (n) => groups.path(n),
    ...(runtime.cgroupPath ? { cgroupPathOf: (id: string) => runtime.cgroupPath?.(id) } : {}),
    netDevice: (id) => networks.hostIf(id),
    signal: metricsFeed.signal,
  }).catch((err: Error) => console.error(`berthd: metrics targets: ${err.message}`));

  const context: AgentContext = {
    host: hostService({ startedAt, procRoot: config.procRoot }),
    images,
    containers,
    groups,
    volumes,
    networks: networkApi,
    events,
    metrics,
    shells,
  };

  const handler = trpcHandler({
    router: agentRouter,
    basePath: '/trpc/',
    createContext: () => context,
    onError({ error, path }) {
      if (error.code === 'INTERNAL_SERVER_ERROR')
        console.error(`berthd: ${path ?? '?'}: ${error.stack ?? error.message}`);
    },
  });
  // One handler for the socket and the TCP listener: image archives, Prometheus text, tRPC.
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const since = traceClock();
    if (since) {
      // BERTH_TRACE: a query's or mutation's time in berthd, from its request to its reply
      // written (subscriptions, which stay open, are not traced).
      const path = /^\/trpc\/([\w.,]+)/.exec(req.url ?? '')?.[1];
      if (path && req.method === 'POST') {
        const trace = startTrace('http', path, since);
        requestTraces.set(req, trace);
        res.once('finish', () => {
          trace.mark('written');
          trace.end();
        });
      }
    }
    if (handleImageArchives(images, req, res)) return;
    if (req.url === '/metrics' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(metrics.prometheus());
      return;
    }
    handler(req, res);
  };
  const server = createServer(handle);
  // Terminals: a websocket on the same listeners (the TCP one checks the token first).
  const terminals = terminalServer((open) =>
    open.kind === 'shell'
      ? shells.open(containers, open)
      : open.kind === 'attach'
        ? shells.attach(containers, open)
        : openConsole(containers, open),
  );
  server.on('upgrade', terminals.handleUpgrade);
  let remote: RemoteListener | undefined;
  try {
    if (config.listen)
      remote = await startRemoteListener({
        ...config,
        listen: config.listen,
        db,
        handle,
        upgrade: terminals.handleUpgrade,
      });
    await listen(server, config.socketPath);
  } catch (err) {
    await remote?.close();
    await metrics.close();
    await db.$disconnect();
    throw err;
  }
  // berthd runs with umask 077, so the socket was born 0600 root:root: nobody else could
  // connect before the group and mode below are set.
  chownSync(config.socketPath, process.getuid?.() ?? 0, gid);
  chmodSync(config.socketPath, 0o660);
  const autostarting = autostart(containers, autostartAbort.signal).catch((e: Error) =>
    console.error(`berthd: autostart: ${e.message}`),
  );

  let closing: Promise<void> | undefined;
  return {
    socketPath: config.socketPath,
    db,
    ...(remote ? { remote } : {}),
    close() {
      closing ??= (async () => {
        await remote?.close();
        // Containers keep running: their monitors outlive berthd, which adopts them at start.
        autostartAbort.abort();
        metricsFeed.abort();
        terminals.close();
        shells.close();
        containers.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Subscriptions hold their connections open; end them so close() returns.
          server.closeAllConnections();
        });
        await autostarting;
        await Promise.all(containers.mutex.busy().map((id) => containers.mutex.run(id, async () => {})));
        await metrics.close();
        await networks.close().catch((e: Error) => console.error(`berthd: networks: ${e.message}`));
        await Promise.resolve(runtime.close()).catch((e: Error) =>
          console.error(`berthd: runtime: ${e.message}`),
        );
        await db.agentEvent.create({
          data: { kind: 'agent.stopped', data: JSON.stringify({ pid: process.pid }) },
        });
        await db.$disconnect();
      })();
      return closing;
    },
  };
}

function hostCgroupLayout(): CgroupLayout | undefined {
  try {
    return detectHostCgroupLayout();
  } catch {
    return undefined; // no cgroups here: the sampler says so per target
  }
}

/** User-namespaced containers cannot reach their roots through a directory others may not pass. */
function warnUntraversable(dir: string): void {
  for (let d = dir; ; d = dirname(d)) {
    try {
      if ((statSync(d).mode & 0o001) === 0)
        console.error(
          `berthd: ${d} is not traversable by others (chmod o+x): unprivileged containers will fail to start`,
        );
    } catch {
      // vanished: nothing to say
    }
    if (dirname(d) === d) return;
  }
}

/** A group name or numeric gid → gid, through NSS (`getent`), so LDAP/sssd groups work too. */
export function resolveGroup(group: string): number {
  if (/^\d+$/.test(group)) return Number(group);
  try {
    const line = execFileSync('getent', ['group', group], { encoding: 'utf8' });
    const gid = Number(line.split(':')[2]);
    if (Number.isInteger(gid)) return gid;
  } catch {
    // getent exits 2 for an unknown group; fall through to the sentence below.
  }
  throw new Error(
    `socket group '${group}' does not exist: create it (groupadd --system ${group}) or choose another with --socket-group`,
  );
}

/** A socket file left by a berthd that died is removed; one that answers means berthd is running. */
async function refuseLiveSocket(socketPath: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(socketPath).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket)
    throw new Error(`${socketPath} exists and is not a socket; remove it or choose another --socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const probe = connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`another berthd is already listening on ${socketPath}`);
  unlinkSync(socketPath);
}

function listen(server: Server, socketPath: string): Promise<void> {
  mkdirSync(dirname(socketPath), { recursive: true, mode: 0o755 });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
