import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  type AgentPolicy,
  ContainerConfig,
  type ContainerConfigInput,
  type ContainerInfo,
  type ContainerState,
  type EventKind,
  type Limits,
  parseRestartPolicy,
} from '@berth/contracts';
import type { AgentDb } from '../db/index.ts';
import { AgentError, conflict, forbidden, invalid, notFound } from '../errors.ts';
import type { EventInput, EventLog } from '../events/log.ts';
import type { ContainerRoot, ImageAdapter, ResolvedImage } from '../runtime/images.ts';
import {
  type ContainerRuntime,
  exitStatus,
  type RuntimeExit,
  type RuntimeInstance,
} from '../runtime/types.ts';
import { startTrace, type Trace, traceClock } from '../trace.ts';
import { readFileInRoot } from './files.ts';
import { keepConsoleLog } from './io.ts';
import {
  type ContainerNetworks,
  joinNetnsIn,
  netnsIdentity,
  networkPeer,
  onBridgeNetwork,
  writeNetFiles,
} from './network.ts';
import { openPeerNetns, type PeerNetns } from './peer-netns.ts';
import { ContainerRecords } from './records.ts';
import { KeyedMutex } from './serial.ts';
import { buildSpec, hostnameOf, ID_RANGE, limitsToResources, stopSignalOf } from './spec.ts';
import { refusal, type Verb } from './state-machine.ts';

// The container service: every verb on a container, serialised per container (KeyedMutex),
// journalled where a crash could leave half a container (Intent rows), and told to the event
// log with the actor who asked. Talks to the runtime and the image store only through their
// adapters (../runtime/).

export interface ContainerServiceDeps {
  db: AgentDb;
  events: EventLog;
  runtime: ContainerRuntime;
  images: ImageAdapter;
  policy: AgentPolicy;
  stateDir: string;
  /** Berth's default seccomp profile (omitted in unit tests of policy). */
  seccomp?: () => unknown;
  /** Resolves a group name to its cgroup path, or throws NOT_FOUND. */
  groupPath: (name: string | undefined) => Promise<string>;
  /** Bridge networking (absent: the bridge mode is refused). */
  networks?: ContainerNetworks;
}

/** A container's record (its state; without the generated spec). */
export type ContainerRecord = NonNullable<Awaited<ReturnType<AgentDb['container']['findUnique']>>>;
/** A container's record with its generated OCI spec (JSON), what verbs that run it need. */
export type ContainerRow = ContainerRecord & { spec: string };

export class ContainerService {
  readonly mutex = new KeyedMutex();
  private readonly records: ContainerRecords;
  /**
   * Containers whose exit is being waited for, each with its one waiter's own token: a waiter
   * (or a failed start) removes only its own entry, never that of a later instance's waiter.
   */
  private readonly watching = new Map<string, object>();
  /** When the runtime acknowledged a watched container's start (traceClock; for BERTH_TRACE). */
  private readonly startedAt = new Map<string, bigint>();
  /** Pending restarts (back-off timers), by container id. */
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  private closed = false;

  constructor(readonly d: ContainerServiceDeps) {
    this.records = new ContainerRecords(d.db);
    mkdirSync(join(d.stateDir, 'containers'), { recursive: true, mode: 0o700 });
    // Traversable (not listable): a user-namespaced container binds its volumes by path.
    mkdirSync(join(d.stateDir, 'volumes'), { recursive: true, mode: 0o711 });
    chmodSync(join(d.stateDir, 'volumes'), 0o711);
  }

  close(): void {
    this.closed = true;
    for (const t of this.restartTimers.values()) clearTimeout(t);
    this.restartTimers.clear();
  }

  // ---- lookups ------------------------------------------------------------------------

  async get(name: string): Promise<ContainerRecord> {
    const row = await this.records.byName(name);
    if (row) return row;
    const names = (await this.d.db.container.findMany({ select: { name: true } })).map((r) => r.name);
    const near = closest(name, names);
    throw new AgentError('NOT_FOUND', `no container named ${name}${near ? `; did you mean ${near}?` : ''}`);
  }

  async list(): Promise<ContainerInfo[]> {
    const rows = await this.records.all();
    return rows.map((r) => this.info(r));
  }

  async inspect(name: string): Promise<ContainerInfo> {
    return this.info(await this.get(name));
  }

  info(r: ContainerRecord): ContainerInfo {
    const rs = r.state === 'running' || r.state === 'paused' ? this.d.runtime.state(r.id) : undefined;
    const network = this.d.networks?.containerInfo(r.id);
    return {
      id: r.id,
      name: r.name,
      image: r.image,
      imageDigest: r.imageDigest,
      state: r.state as ContainerState,
      ...(rs?.pid !== undefined ? { pid: rs.pid } : {}),
      exitCode: r.exitCode,
      restartCount: r.restartCount,
      group: r.groupName,
      config: JSON.parse(r.config) as ContainerConfig,
      ...(network ? { network } : {}),
      createdAt: r.createdAt.toISOString(),
      startedAt: r.startedAt?.toISOString() ?? null,
      finishedAt: r.finishedAt?.toISOString() ?? null,
    };
  }

  /** Run `fn` on the container named `name` under its lock, after checking `verb` is allowed. */
  async withContainer<T>(
    name: string,
    verb: Verb | undefined,
    fn: (row: ContainerRow) => Promise<T>,
  ): Promise<T> {
    const first = await this.get(name);
    return this.mutex.run(first.id, async () => {
      const row = await this.withSpec(first.id);
      if (!row) throw notFound(`container ${name}`);
      if (verb) {
        const why = refusal(verb, row.name, row.state as ContainerState);
        if (why) throw conflict(why);
      }
      return fn(row);
    });
  }

  /** The container's record and its spec, in one query; undefined when there is no such container. */
  withSpec(id: string): Promise<ContainerRow | undefined> {
    return this.records.withSpec(id);
  }

  private needRuntime(): void {
    const why = this.d.runtime.unavailableReason();
    if (why) throw new AgentError('INTERNAL', `containers cannot run here: ${why}`);
  }

  // ---- policy -------------------------------------------------------------------------

  /** Refuses what the agent's config does not allow; resolves the bind mounts. */
  checkPolicy(config: ContainerConfig): Array<{ source: string; target: string; readOnly: boolean }> {
    const p = this.d.policy;
    if (config.privileged && !p.allowPrivileged)
      throw forbidden('privileged containers are not allowed by this agent (allowPrivileged in its config)');
    if (config.network === 'host' && !p.allowHostNetwork)
      throw forbidden("the host's network is not allowed by this agent (allowHostNetwork in its config)");
    const bridged = onBridgeNetwork(config.network);
    if (bridged && !this.d.networks)
      throw new AgentError(
        'CONFLICT',
        `network ${config.network}: this agent has no bridge networking; use none, host or container:<name>`,
      );
    if (config.ports.length > 0 && !bridged)
      throw invalid('ports', 'published ports need network bridge or a user network');
    if (config.rateLimit && !bridged)
      throw invalid('rateLimit', 'rate limits need network bridge or a user network');
    const seen = new Set<string>();
    for (const [i, p] of config.ports.entries()) {
      const key = `${p.protocol}/${p.hostPort}`;
      if (seen.has(key)) throw invalid(`ports.${i}.hostPort`, `${key} is published twice`);
      seen.add(key);
    }
    checkLimits(config.limits, p.maxLimits, 'limits');
    const binds: Array<{ source: string; target: string; readOnly: boolean }> = [];
    for (const [i, v] of config.volumes.entries()) {
      if (v.type === 'volume') {
        binds.push({ source: this.volumeDir(v.source), target: v.target, readOnly: v.readOnly });
        continue;
      }
      let real: string;
      try {
        real = realpathSync(v.source);
      } catch {
        throw invalid(`volumes.${i}.source`, `${v.source} does not exist on the host`);
      }
      const allowed = p.bindMountAllowlist.some((dir) => {
        let base: string;
        try {
          base = realpathSync(dir);
        } catch {
          return false;
        }
        return real === base || real.startsWith(`${base}/`);
      });
      if (!allowed)
        throw forbidden(`bind-mount ${v.source}: it is outside the agent's allowlist (bindMountAllowlist)`);
      binds.push({ source: real, target: v.target, readOnly: v.readOnly });
    }
    return binds;
  }

  volumeDir(name: string): string {
    return join(this.d.stateDir, 'volumes', name, '_data');
  }

  // ---- create ---------------------------------------------------------------------------

  async create(
    input: ContainerConfigInput,
    actor: string,
    opts: {
      seedUpper?: string;
      /** First host id of the range the seed's files belong to (shifted into the new one). */
      seedIdBase?: number | null;
      event?: 'container.created' | 'container.cloned';
      from?: string;
      /** Start it too, under the same lock (what `create --start` and `launch` ask for). */
      start?: boolean;
      /**
       * `input` is ContainerConfig's own output (the API's input schema parsed it): not parsed
       * again (0.1 ms).
       */
      validated?: boolean;
    } = {},
  ): Promise<ContainerInfo> {
    const config = opts.validated ? (input as ContainerConfig) : ContainerConfig.parse(input);
    const trace = startTrace('create', config.name);
    const binds = this.checkPolicy(config);
    for (const v of config.volumes)
      if (v.type === 'volume' && !(await this.d.db.volume.findUnique({ where: { name: v.source } })))
        throw notFound(`volume ${v.source}`);
    await this.d.networks?.check(config.network);
    const cgroupParent = await this.d.groupPath(config.group);
    // Refused early while the peer is not running; its namespace is opened for the create.
    await this.runningPeer(config);
    if (await this.records.nameTaken(config.name))
      throw conflict(`a container named ${config.name} already exists`);
    this.needRuntime();
    trace.mark('checks');
    const image = await this.d.images.resolve(config.image, (img) => {
      void this.d.events.append('image.pulled', {
        actor,
        subject: img.reference,
        data: { digest: img.digest },
      });
    });

    trace.mark('image');
    // Where the runtime makes cgroups ahead of time, the id is that of a ready one: the
    // container's cgroup is <cgroupParent>/<id> either way.
    const id = (await this.d.runtime.reserveId?.(cgroupParent)) ?? randomBytes(6).toString('hex');
    trace.mark('cgroup');
    // The id range, the intent and the record in one transaction: both or neither (one
    // commit), and no two creates get the same range (the range is picked and taken in one
    // synchronous transaction, which nothing else can interleave).
    let created: { idBase: number | undefined; intentId: number; record: ContainerRecord };
    try {
      created = await this.records.sql.transaction(() => {
        const base = config.privileged ? undefined : this.freeIdBase(this.records.idBasesNow());
        const { intentId, record } = this.records.insertCreating({
          id,
          name: config.name,
          image: config.image,
          imageDigest: image.digest,
          config: JSON.stringify(config),
          groupName: config.group ?? null,
          restartPolicy: config.restart,
          autostart: config.autostart,
          autostartOrder: config.autostartOrder,
          labels: JSON.stringify(config.labels),
          idBase: base ?? null,
        });
        return { idBase: base, intentId, record };
      });
    } catch (e) {
      this.d.runtime.releaseId?.(id);
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE')
        throw conflict(`a container named ${config.name} already exists`);
      throw e;
    }
    const { idBase, intentId, record } = created;
    trace.mark('record');
    return this.mutex.run(id, async () => {
      let row: ContainerRow;
      let spec: Record<string, unknown>;
      let joinNetns: PeerNetns | undefined;
      let made: RuntimeInstance;
      try {
        const root = await this.d.images.createRoot(id, image, idBase, ID_RANGE);
        trace.mark('root');
        if (opts.seedUpper) {
          this.seedUpper(id, root, opts.seedUpper, { from: opts.seedIdBase ?? 0, to: idBase ?? 0 });
          await this.d.images.ensureMounted(id);
        }
        for (const v of config.volumes)
          if (v.type === 'volume') prepareVolumeDir(this.volumeDir(v.source), idBase);
        joinNetns = await this.peerNetns(config);
        spec = this.spec(id, config, image, root, idBase, cgroupParent, binds, joinNetns?.path);
        mkdirSync(this.dir(id), { recursive: true, mode: 0o700 });
        trace.mark('spec');
        made = await this.d.runtime.create(id, this.dir(id), spec, this.logFile(id), trace, {
          start: opts.start === true && startsInCreate(config),
        });
        trace.mark('runtime');
      } catch (e) {
        await this.rollbackCreate(id).catch(() => {});
        await this.d.db.intent.deleteMany({ where: { id: intentId } });
        throw e;
      } finally {
        joinNetns?.close();
      }
      // Created (and started, when asked), the intent done and the events, in one commit. A
      // start that fails leaves the container created, as a start of its own would.
      const createdEvent: [EventKind, EventInput] = [
        opts.event ?? 'container.created',
        {
          actor,
          subject: config.name,
          data: { id, image: config.image, digest: image.digest, ...(opts.from ? { from: opts.from } : {}) },
        },
      ];
      const finish = {
        spec: JSON.stringify(spec),
        intentId,
        events: [createdEvent, ['container.started', { actor, subject: config.name, data: { id } }]] as Array<
          [EventKind, EventInput]
        >,
      };
      let startError: unknown;
      if (opts.start) {
        try {
          row = await this.startLocked({ ...record, spec: finish.spec }, false, trace, finish, made);
        } catch (e) {
          startError = e;
        }
      }
      if (!opts.start || startError) {
        const { result } = await this.d.events.commitSql(() => {
          this.records.finishCreate(id, finish.spec, intentId);
          return this.records.setCreated(id);
        }, [createdEvent]);
        row = { ...result, spec: finish.spec };
        trace.mark('commit');
      }
      trace.end();
      if (startError) throw startError;
      return this.info(row!);
    });
  }

  private spec(
    id: string,
    config: ContainerConfig,
    image: ResolvedImage,
    root: ContainerRoot,
    idBase: number | undefined,
    cgroupParent: string,
    binds: Array<{ source: string; target: string; readOnly: boolean }>,
    joinNetns?: string,
  ): Record<string, unknown> {
    const { uid, gid } = resolveUser(root.path, config.user ?? image.config.user);
    return buildSpec(this.d.runtime, {
      id,
      config,
      image: image.config,
      rootfs: root.path,
      cgroupsPath: `${cgroupParent}/${id}`,
      ...(idBase !== undefined ? { idBase } : {}),
      uid,
      gid,
      binds,
      ...(joinNetns ? { joinNetns } : {}),
      ...(this.d.seccomp ? { seccomp: this.d.seccomp() } : {}),
    });
  }

  /** The first id range no container has. */
  private freeIdBase(used: Set<number>): number {
    for (let i = 0; ; i++) {
      const base = this.d.policy.idRangeBase + i * ID_RANGE;
      if (!used.has(base)) return base;
    }
  }

  private seedUpper(id: string, root: ContainerRoot, from: string, shift?: IdShift): void {
    this.d.images.unmount(id);
    rmSync(root.upper, { recursive: true, force: true });
    cpSync(from, root.upper, {
      recursive: true,
      preserveTimestamps: true,
      verbatimSymlinks: true,
      force: true,
    });
    copyOwnership(from, root.upper, shift);
  }

  /** Undo a create: no runtime state, root, directory or record is left. */
  async rollbackCreate(id: string): Promise<void> {
    this.d.runtime.releaseId?.(id);
    if (this.d.runtime.state(id)) await this.d.runtime.delete(id, true).catch(() => {});
    await this.d.networks?.detach(id).catch(() => {});
    await this.d.images.removeRoot(id);
    // In the thread pool: a state dir's removal blocked every other caller for milliseconds.
    await rm(this.dir(id), { recursive: true, force: true });
    await this.d.db.container.deleteMany({ where: { id } });
  }

  dir(id: string): string {
    return join(this.d.stateDir, 'containers', id);
  }

  // ---- lifecycle ------------------------------------------------------------------------

  async start(name: string, actor: string): Promise<ContainerInfo> {
    const trace = startTrace('start', name);
    return this.withContainer(name, 'start', async (row) => {
      trace.mark('lookup');
      const started = await this.startLocked(row, false, trace, {
        events: [['container.started', { actor, subject: row.name, data: { id: row.id } }]],
      });
      trace.end();
      return this.info(started);
    });
  }

  /**
   * Start under the container's lock: a stopped container gets a fresh runtime instance.
   * `commit`: events recorded with the running state, in the same commit (and for the end of a
   * create, its spec and the end of its intent). `made`: the instance the caller has just
   * created (and maybe started: its `started`).
   */
  private async startLocked(
    row: ContainerRow,
    restarting = false,
    trace?: Trace,
    commit?: { spec?: string; intentId?: number; events: Array<[EventKind, EventInput]> },
    made?: RuntimeInstance,
  ): Promise<ContainerRow> {
    this.needRuntime();
    const config = JSON.parse(row.config) as ContainerConfig;
    let instance: Partial<RuntimeInstance> | undefined = made;
    if (!instance) {
      const joinNetns = await this.peerNetns(config);
      try {
        let rs = this.d.runtime.state(row.id);
        // A created instance joined its peer's namespace at its create: stale if the peer restarted.
        if (joinNetns && rs?.status === 'created' && rs.pid !== undefined) {
          if (netnsIdentity(`/proc/${rs.pid}/ns/net`) !== netnsIdentity(joinNetns.path)) {
            await this.retireInstance(row.id);
            rs = undefined;
          }
        }
        instance = { ...(rs?.pid !== undefined ? { pid: rs.pid } : {}) };
        // 'creating' under this lock is an instance whose maker (a berthd killed in the middle
        // of a start) never recorded its pid: retired (killed through its cgroup) like a stopped one.
        if (!rs || rs.status === 'stopped' || rs.status === 'creating') {
          if (rs) await this.retireInstance(row.id);
          trace?.mark('retire');
          await this.d.images.ensureMounted(row.id);
          trace?.mark('mount');
          const spec = JSON.parse(row.spec) as Record<string, unknown>;
          const slot = await this.freshCgroup(spec);
          trace?.mark('cgroup');
          try {
            instance = await this.d.runtime.create(
              row.id,
              this.dir(row.id),
              joinNetns ? joinNetnsIn(spec, joinNetns.path) : spec,
              this.logFile(row.id),
              trace,
              { start: startsInCreate(config) },
            );
          } finally {
            if (slot) this.d.runtime.releaseId?.(slot); // nothing once the create took it
          }
        }
      } finally {
        joinNetns?.close();
      }
    }
    trace?.mark('instance');
    if (onBridgeNetwork(config.network)) await this.attachBridge(row, config, instance.pid);
    // Watched from before the start: a short-lived init can exit before start returns, and its
    // monitor goes with it; a waiter that connects too late falls back to polling for the
    // monitor's end. The exit is recorded only once this start has committed (our lock).
    this.watch(row.id, instance.exited);
    const waiter = this.watching.get(row.id);
    try {
      // Started by its create (one request to the monitor), or now.
      await (instance.started ?? this.d.runtime.start(row.id));
      // (Unless its exit was heard first: a waiter that has ended is not watching any more.)
      if (trace && this.watching.get(row.id) === waiter) this.startedAt.set(row.id, traceClock());
      trace?.mark('start');
    } catch (e) {
      // The next start watches its own instance (this waiter ends with this one, changing nothing).
      if (waiter && this.watching.get(row.id) === waiter) this.watching.delete(row.id);
      if (onBridgeNetwork(config.network)) await this.d.networks?.detach(row.id).catch(() => {});
      throw e;
    }
    const running = () => {
      // The end of a create: its spec (written once, here) and the end of its intent.
      if (commit?.spec !== undefined && commit.intentId !== undefined)
        this.records.finishCreate(row.id, commit.spec, commit.intentId);
      return this.records.setRunning(row.id, restarting);
    };
    const started = commit
      ? (await this.d.events.commitSql(running, commit.events)).result
      : await this.records.sql.transaction(running);
    trace?.mark('running');
    // (A container just created has no dependents: theirs would have been refused.)
    if (commit?.intentId === undefined) void this.followPeer(started, 'started');
    return { ...started, spec: row.spec };
  }

  /**
   * A fresh instance's cgroup: a ready one of the runtime's (named like an id under the same
   * parent: the limits written, a warm cell inside) in place of the spec's, which the instance
   * before had (removed with it, then made again, and init moved into each hierarchy: most of
   * a restart's time). Changes `spec` (a copy); returns the slot's name to give up afterwards.
   */
  private async freshCgroup(spec: Record<string, unknown>): Promise<string | undefined> {
    const linux = spec.linux as { cgroupsPath?: string } | undefined;
    const path = linux?.cgroupsPath;
    if (!this.d.runtime.reserveId || !path?.startsWith('/')) return undefined;
    const parent = dirname(path);
    const slot = await this.d.runtime.reserveId(parent);
    linux!.cgroupsPath = `${parent}/${slot}`;
    return slot;
  }

  // ---- `container:NAME` dependents (the rules: network.ts) ----------------------------

  /** A `container:NAME` mode's peer and its init's pid; refused while that container is not running. */
  private async runningPeer(
    config: ContainerConfig,
  ): Promise<{ peer: string; other: ContainerRecord; pid: number } | undefined> {
    const peer = networkPeer(config.network);
    if (!peer) return undefined;
    const other = await this.get(peer);
    const pid = other.state === 'running' ? this.d.runtime.state(other.id)?.pid : undefined;
    if (pid === undefined)
      throw conflict(`network ${config.network}: ${peer} is not running (${other.state}); start it first`);
    return { peer, other, pid };
  }

  /**
   * The namespace a `container:NAME` mode joins now, held open (the caller closes it once the
   * runtime has joined it); refused while that container is not running.
   */
  private async peerNetns(config: ContainerConfig): Promise<PeerNetns | undefined> {
    const running = await this.runningPeer(config);
    if (!running) return undefined;
    const { peer, other, pid } = running;
    // The runtime's state is 'running' only while the pid has the start time recorded for the init.
    const isInit = () => {
      const rs = this.d.runtime.state(other.id);
      return rs?.status === 'running' && rs.pid === pid;
    };
    return openPeerNetns(pid, isInit, `network ${config.network}: ${peer}`);
  }

  /** Containers whose network mode is `container:<name>`. */
  private async dependentsOf(name: string): Promise<ContainerRecord[]> {
    const mode = `container:${name}`;
    // Asked after every start and exit: a statement, not a Prisma query.
    const rows = await this.records.configContaining(JSON.stringify(mode));
    return rows.filter((r) => (JSON.parse(r.config) as ContainerConfig).network === mode);
  }

  /**
   * After `peer` started, stopped or is being deleted: each dependent, under its own lock, is
   * brought in line with the peer as it is *then* (a peer's exit and its policy's restart can
   * overtake each other): one running outside the peer's current namespace is stopped (on
   * 'deleted', any running one), and one stopped but not by a user is started while the peer
   * runs. Runs in the background when the peer exited on its own (no caller to wait).
   */
  private followPeer(peer: { name: string }, what: 'started' | 'stopped' | 'deleted'): Promise<void> {
    return this.dependentsOf(peer.name)
      .then(async (deps) => {
        for (const dep of deps) {
          if (this.closed) return;
          await this.withContainer(dep.name, undefined, async (row) => {
            const config = JSON.parse(row.config) as ContainerConfig;
            const held = what === 'deleted' ? undefined : await this.peerNetns(config).catch(() => undefined);
            const peerNs = held && netnsIdentity(held.path);
            held?.close();
            const pid = this.d.runtime.state(row.id)?.pid;
            const live = row.state === 'running' || row.state === 'paused';
            let current: ContainerRow = row;
            if (live && (!peerNs || pid === undefined || netnsIdentity(`/proc/${pid}/ns/net`) !== peerNs)) {
              const exit = await this.stopLocked(row);
              // Not the user's stop: the peer's next start starts it again.
              current = {
                ...row,
                ...(await this.d.db.container.update({
                  where: { id: row.id },
                  data: { stoppedByUser: false },
                })),
              };
              await this.d.events.append('container.stopped', {
                subject: row.name,
                data: {
                  id: row.id,
                  exitCode: exit ? exitStatus(exit) : null,
                  reason: `its network peer ${peer.name} ${what === 'started' ? 'restarted' : what}`,
                  peer: peer.name,
                },
              });
            }
            if (peerNs && current.state === 'stopped' && !current.stoppedByUser) {
              const reason = `its network peer ${peer.name} started`;
              await this.startLocked(current, false, undefined, {
                events: [
                  ['container.started', { subject: row.name, data: { id: row.id, reason, peer: peer.name } }],
                ],
              });
            }
          }).catch((e: Error) =>
            console.error(`berthd: ${dep.name} after ${peer.name} ${what}: ${e.message}`),
          );
        }
      })
      .catch((e: Error) => console.error(`berthd: dependents of ${peer.name}: ${e.message}`));
  }

  /** Between the runtime's create (init's netns exists) and start: eth0 on the default network,
   * the published ports, and the container's resolv.conf, hosts and hostname. */
  private async attachBridge(
    row: ContainerRow,
    config: ContainerConfig,
    pid: number | undefined,
  ): Promise<void> {
    if (!this.d.networks) throw conflict('network bridge: this agent has no bridge networking');
    if (pid === undefined) throw new AgentError('INTERNAL', `container ${row.name}: its init has no pid`);
    const spec = JSON.parse(row.spec) as { hostname?: string; root?: { path?: string } };
    const hostname = (spec.hostname ?? hostnameOf(config.name)).toLowerCase();
    const byName = hostnameOf(config.name);
    const ep = await this.d.networks.attach({
      containerId: row.id,
      pid,
      network: config.network,
      hostname,
      aliases: byName !== hostname ? [byName] : [],
      ports: config.ports,
      ...(config.rateLimit ? { rateLimit: config.rateLimit } : {}),
    });
    try {
      const rootfs = spec.root?.path;
      if (!rootfs) throw new AgentError('INTERNAL', `container ${row.name}: its spec has no root`);
      writeNetFiles(rootfs, ep.files, row.idBase ?? 0, row.idBase ?? 0);
    } catch (e) {
      await this.d.networks.detach(row.id).catch(() => {});
      throw e;
    }
  }

  /** Drop the runtime's stopped (or merely created) instance; the log file stays. */
  private async retireInstance(id: string): Promise<void> {
    keepConsoleLog(this.d.runtime.consoleLogs(id), this.logFile(id));
    // The next instance gets a fresh cgroup (freshCgroup), or waits for this one's removal.
    await this.d.runtime.delete(id, true, { cgroupInBackground: true });
  }

  /**
   * The container's output across its runs: init's stdout and stderr, appended.
   * (The runtime's monitor keeps a bounded console log for containers with a terminal; its
   * terminal cannot yet be bound into a container with its own mount namespace, so berthd
   * gives init a file instead — see the report in the agent issue.)
   */
  logFile(id: string): string {
    return join(this.dir(id), 'console.log');
  }

  async stop(name: string, actor: string, timeoutSec?: number): Promise<ContainerInfo> {
    return this.withContainer(name, 'stop', async (row) => {
      if (row.state === 'stopped') {
        // Exited already; it may be waiting out a restart back-off, which the stop cancels.
        const pending = this.cancelRestart(row.id);
        await this.d.db.container.update({ where: { id: row.id }, data: { stoppedByUser: true } });
        if (pending)
          await this.d.events.append('container.stopped', {
            actor,
            subject: row.name,
            data: { id: row.id, exitCode: row.exitCode, signal: 0, restartCancelled: true },
          });
        return this.info((await this.d.db.container.findUnique({ where: { id: row.id } }))!);
      }
      const exit = await this.stopLocked(row, timeoutSec);
      await this.d.events.append('container.stopped', {
        actor,
        subject: row.name,
        data: { id: row.id, exitCode: exit ? exitStatus(exit) : null, signal: exit?.signal ?? 0 },
      });
      return this.info((await this.d.db.container.findUnique({ where: { id: row.id } }))!);
    });
  }

  /** The stop signal, then everything killed after the timeout; marks the stop as wanted. */
  private async stopLocked(row: ContainerRow, timeoutSec?: number): Promise<RuntimeExit | undefined> {
    const config = JSON.parse(row.config) as ContainerConfig;
    this.cancelRestart(row.id);
    await this.d.db.container.update({
      where: { id: row.id },
      data: { state: 'stopping', stoppedByUser: true },
    });
    let exit: RuntimeExit | undefined;
    const rs = this.d.runtime.state(row.id);
    if (rs && rs.status !== 'stopped') {
      const exited = this.d.runtime.wait(row.id);
      if (rs.status === 'paused') await this.d.runtime.resume(row.id);
      const timeout = (timeoutSec ?? config.stopTimeoutSec ?? this.d.policy.stopTimeoutSec) * 1000;
      if (rs.status === 'created') await this.d.runtime.kill(row.id, 'SIGKILL', true);
      else {
        const image = await this.d.images
          .resolve(row.imageDigest)
          .then((i) => i.config)
          .catch(() => ({ env: [], entrypoint: null, cmd: null }));
        await this.d.runtime.kill(row.id, stopSignalOf(config, image)).catch(() => {});
      }
      exit = await Promise.race([exited, sleep(timeout).then(() => undefined)]);
      if (!exit) {
        await this.d.runtime.kill(row.id, 'SIGKILL', true).catch(() => {});
        exit = await exited;
      }
    }
    await this.d.db.container.update({
      where: { id: row.id },
      data: { state: 'stopped', exitCode: exit ? exitStatus(exit) : null, finishedAt: new Date() },
    });
    await this.d.networks?.detach(row.id);
    await this.followPeer(row, 'stopped');
    return exit;
  }

  async restart(name: string, actor: string): Promise<ContainerInfo> {
    return this.withContainer(name, 'restart', async (row) => {
      if (row.state !== 'stopped') await this.stopLocked(row);
      const fresh = (await this.withSpec(row.id))!;
      const started = await this.startLocked(fresh, false, undefined, {
        events: [['container.restarted', { actor, subject: row.name, data: { id: row.id } }]],
      });
      return this.info(started);
    });
  }

  async kill(name: string, signal: string | number, actor: string): Promise<void> {
    await this.withContainer(name, 'kill', async (row) => {
      await this.d.db.container.update({ where: { id: row.id }, data: { stoppedByUser: true } });
      await this.d.runtime.kill(row.id, signal, true);
      await this.d.events.append('container.killed', {
        actor,
        subject: row.name,
        data: { id: row.id, signal },
      });
    });
  }

  async freeze(name: string, actor: string): Promise<ContainerInfo> {
    return this.withContainer(name, 'freeze', async (row) => {
      await this.d.runtime.pause(row.id);
      const r = await this.d.db.container.update({ where: { id: row.id }, data: { state: 'paused' } });
      await this.d.events.append('container.frozen', { actor, subject: row.name, data: { id: row.id } });
      return this.info(r);
    });
  }

  async unfreeze(name: string, actor: string): Promise<ContainerInfo> {
    return this.withContainer(name, 'unfreeze', async (row) => {
      await this.d.runtime.resume(row.id);
      const r = await this.d.db.container.update({ where: { id: row.id }, data: { state: 'running' } });
      await this.d.events.append('container.unfrozen', { actor, subject: row.name, data: { id: row.id } });
      return this.info(r);
    });
  }

  async delete(name: string, actor: string, force = false): Promise<void> {
    await this.withContainer(name, force ? 'forceDelete' : 'delete', async (row) => {
      const deps = await this.dependentsOf(row.name);
      if (deps.length && !force)
        throw conflict(
          `container ${row.name} is the network of ${deps.map((d) => d.name).join(', ')} (container:${row.name}); delete them first, or force (they are stopped)`,
        );
      if (deps.length) await this.followPeer(row, 'deleted');
      this.cancelRestart(row.id);
      const intentId = await this.records.sql.transaction(() => this.records.startDelete(row.id));
      await this.finishDelete(row.id, intentId, [
        'container.deleted',
        { actor, subject: row.name, data: { id: row.id } },
      ]);
    });
  }

  /**
   * Idempotent: what a crashed delete left is removed by running this again. The rows go last,
   * with the delete's intent and its event when given, in one commit.
   */
  async finishDelete(id: string, intentId?: number, event?: [EventKind, EventInput]): Promise<void> {
    if (this.d.runtime.state(id)) await this.d.runtime.delete(id, true);
    await this.d.networks?.detach(id);
    await this.d.images.removeRoot(id);
    // In the thread pool: a state dir's removal blocked every other caller for milliseconds.
    await rm(this.dir(id), { recursive: true, force: true });
    const remove = () => this.records.remove(id, intentId);
    if (event) await this.d.events.commitSql(remove, [event]);
    else await this.records.sql.transaction(remove);
  }

  async rename(name: string, newName: string, actor: string): Promise<ContainerInfo> {
    return this.withContainer(name, 'rename', async (row) => {
      if (await this.d.db.container.findUnique({ where: { name: newName } }))
        throw conflict(`a container named ${newName} already exists`);
      const deps = await this.dependentsOf(row.name);
      if (deps.length)
        throw conflict(
          `container ${row.name} is the network of ${deps.map((d) => d.name).join(', ')}; it keeps its name`,
        );
      const config = { ...(JSON.parse(row.config) as ContainerConfig), name: newName };
      const r = await this.d.db.container.update({
        where: { id: row.id },
        data: { name: newName, config: JSON.stringify(config) },
      });
      await this.d.events.append('container.renamed', {
        actor,
        subject: newName,
        data: { id: row.id, from: name },
      });
      return this.info(r);
    });
  }

  /** Changes limits; live when the container has a cgroup now. Absent fields are kept. */
  async updateLimits(name: string, limits: Limits, actor: string): Promise<ContainerInfo> {
    return this.withContainer(name, 'limits', async (row) => {
      checkLimits(limits, this.d.policy.maxLimits, 'limits');
      const config = JSON.parse(row.config) as ContainerConfig;
      const merged = { ...config.limits, ...limits };
      const rs = this.d.runtime.state(row.id);
      if (rs && rs.status !== 'stopped') await this.d.runtime.update(row.id, limitsToResources(limits));
      const spec = JSON.parse(row.spec) as { linux?: { resources?: Record<string, unknown> } };
      if (spec.linux)
        spec.linux.resources = { ...(spec.linux.resources ?? {}), ...limitsToResources(merged) };
      const [r] = await this.d.db.$transaction([
        this.d.db.container.update({
          where: { id: row.id },
          data: { config: JSON.stringify({ ...config, limits: merged }) },
        }),
        this.d.db.containerSpec.upsert({
          where: { containerId: row.id },
          create: { containerId: row.id, spec: JSON.stringify(spec) },
          update: { spec: JSON.stringify(spec) },
        }),
      ]);
      await this.d.events.append('container.limits-updated', {
        actor,
        subject: row.name,
        data: { id: row.id, limits: merged, live: Boolean(rs && rs.status !== 'stopped') },
      });
      return this.info(r);
    });
  }

  // ---- exits and restart policies ----------------------------------------------------

  /**
   * Wait for the container's init to exit, then record it and apply the restart policy.
   * `exited`: the runtime's own report of this instance's exit, when it has one (quicker than
   * asking the monitor's socket; wait() still answers when it cannot tell).
   */
  watch(id: string, exited?: Promise<RuntimeExit>): void {
    if (this.watching.has(id) || this.closed) return;
    const waiter = {};
    this.watching.set(id, waiter);
    const watchedAt = traceClock();
    (exited ? exited.catch(() => this.d.runtime.wait(id)) : this.d.runtime.wait(id))
      .catch(() => ({ code: -1, signal: 0 }))
      .then(async (exit) => {
        // A failed start's waiter ends after the next start's began: that entry is not its own.
        const own = this.watching.get(id) === waiter;
        const startedAt = own ? this.startedAt.get(id) : undefined;
        if (own) {
          this.watching.delete(id);
          this.startedAt.delete(id);
        }
        if (this.closed) return;
        // "report": from the start's acknowledgement (or, for an adopted container, from when
        // the wait began) until berthd heard of the exit: the container's own run included.
        const trace = startTrace('exit', id, startedAt ?? watchedAt);
        trace.mark(startedAt !== undefined ? 'report' : 'wait');
        await this.mutex.run(id, () => this.onExit(id, exit, trace));
        trace.end();
      })
      .catch((e: Error) => console.error(`berthd: after container ${id} exited: ${e.message}`));
  }

  private async onExit(id: string, exit: RuntimeExit, trace: Trace): Promise<void> {
    trace.mark('lock');
    const row = await this.records.byId(id);
    if (!row || (row.state !== 'running' && row.state !== 'paused')) return; // stop/delete handled it
    const rs = this.d.runtime.state(id);
    if (rs && rs.status !== 'stopped') return; // a later instance is running
    trace.mark('lookup');
    // Only a SIGKILL can be the OOM killer's: the cgroup's counters are read for no other exit.
    const oom = exit.signal === 9 ? await this.d.runtime.oomKills(id).catch(() => 0) : 0;
    trace.mark('oom');
    await this.d.networks
      ?.detach(id)
      .catch((e: Error) => console.error(`berthd: detaching ${row.name}: ${e.message}`));
    trace.mark('detach');
    // The exit and its events in one commit.
    await this.d.events.commitSql(
      () => this.records.setExited(id, exitStatus(exit)),
      [
        ...(oom > 0 && exit.signal === 9
          ? [['container.oom-killed', { subject: row.name, data: { id } }] as [EventKind, EventInput]]
          : []),
        [
          'container.exited',
          { subject: row.name, data: { id, exitCode: exitStatus(exit), signal: exit.signal } },
        ],
      ],
    );
    trace.mark('commit');
    void this.followPeer(row, 'stopped');
    this.applyRestartPolicy({ ...row, exitCode: exitStatus(exit) });
  }

  /** Schedules a restart when the policy wants one, with exponential back-off. */
  applyRestartPolicy(row: ContainerRecord): void {
    if (row.stoppedByUser || this.closed) return;
    const policy = parseRestartPolicy(row.restartPolicy);
    const failed = row.exitCode !== 0;
    const want =
      policy.name === 'always' ||
      policy.name === 'unless-stopped' ||
      (policy.name === 'on-failure' &&
        failed &&
        (policy.maxRetries === undefined || row.restartCount < policy.maxRetries));
    if (!want) return;
    const delay = Math.min(30_000, 100 * 2 ** Math.min(row.restartCount, 10));
    this.cancelRestart(row.id);
    const timer = setTimeout(() => {
      this.restartTimers.delete(row.id);
      void this.mutex
        .run(row.id, async () => {
          const fresh = await this.withSpec(row.id);
          if (fresh?.state !== 'stopped' || fresh.stoppedByUser) return;
          await this.d.db.container.update({
            where: { id: row.id },
            data: { restartCount: { increment: 1 } },
          });
          await this.startLocked({ ...fresh, restartCount: fresh.restartCount + 1 }, true);
          await this.d.events.append('container.restarted', {
            subject: fresh.name,
            data: { id: row.id, policy: row.restartPolicy, restartCount: fresh.restartCount + 1 },
          });
        })
        .catch((e: Error) => console.error(`berthd: restarting ${row.name}: ${e.message}`));
    }, delay);
    this.restartTimers.set(row.id, timer);
  }

  /** Cancels a pending restart; true when there was one. */
  private cancelRestart(id: string): boolean {
    const t = this.restartTimers.get(id);
    if (t) clearTimeout(t);
    return this.restartTimers.delete(id);
  }

  // ---- snapshots and clones ---------------------------------------------------------

  private snapshotDir(id: string, snapId: string): string {
    return join(this.dir(id), 'snapshots', snapId);
  }

  async snapshot(
    name: string,
    snapName: string,
    actor: string,
  ): Promise<{ name: string; createdAt: string }> {
    return this.withContainer(name, 'snapshot', async (row) => {
      if (
        await this.d.db.snapshot.findUnique({
          where: { containerId_name: { containerId: row.id, name: snapName } },
        })
      )
        throw conflict(`container ${row.name} already has a snapshot named ${snapName}`);
      const root = this.d.images.root(row.id);
      if (!root) throw new AgentError('INTERNAL', `container ${row.name} has no root filesystem`);
      const snapId = randomBytes(6).toString('hex');
      const dest = this.snapshotDir(row.id, snapId);
      mkdirSync(join(this.dir(row.id), 'snapshots'), { recursive: true, mode: 0o700 });
      // Only the container's own changes (the overlay upper dir) are copied: the image's
      // layers are shared and read-only, so a snapshot costs what the container wrote.
      await this.copyUpper(row.id, root.upper, `${dest}.tmp`);
      renameSync(`${dest}.tmp`, dest);
      const s = await this.d.db.snapshot.create({
        data: { id: snapId, containerId: row.id, name: snapName },
      });
      await this.d.events.append('container.snapshot-created', {
        actor,
        subject: row.name,
        data: { snapshot: snapName, live: row.state === 'running' || row.state === 'paused' },
      });
      return { name: s.name, createdAt: s.createdAt.toISOString() };
    });
  }

  /**
   * Copies a container's upper dir (owners included) to `dest`. A running container is frozen
   * for the copy: no process of it writes meanwhile, so the copy is its files at one instant
   * (what a power cut would leave; reading the upper dir under a mounted overlay is allowed,
   * only writing to it is not). A paused one stays paused. Nothing is left at `dest` on failure.
   */
  private async copyUpper(id: string, upper: string, dest: string): Promise<void> {
    const live = this.d.runtime.state(id)?.status === 'running';
    if (live) await this.d.runtime.pause(id);
    try {
      cpSync(upper, dest, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
      copyOwnership(upper, dest);
    } catch (e) {
      rmSync(dest, { recursive: true, force: true });
      throw e;
    } finally {
      if (live) await this.d.runtime.resume(id);
    }
  }

  async snapshots(name: string): Promise<Array<{ name: string; createdAt: string }>> {
    const row = await this.get(name);
    const list = await this.d.db.snapshot.findMany({
      where: { containerId: row.id },
      orderBy: { createdAt: 'asc' },
    });
    return list.map((s) => ({ name: s.name, createdAt: s.createdAt.toISOString() }));
  }

  private async findSnapshot(row: ContainerRecord, snapName: string) {
    const s = await this.d.db.snapshot.findUnique({
      where: { containerId_name: { containerId: row.id, name: snapName } },
    });
    if (!s) throw notFound(`snapshot ${snapName} of container ${row.name}`);
    return s;
  }

  async restore(name: string, snapName: string, actor: string): Promise<void> {
    await this.withContainer(name, 'restore', async (row) => {
      const s = await this.findSnapshot(row, snapName);
      const root = this.d.images.root(row.id);
      if (!root) throw new AgentError('INTERNAL', `container ${row.name} has no root filesystem`);
      const rs = this.d.runtime.state(row.id);
      if (rs) await this.retireInstance(row.id); // a created instance holds the old root open
      this.seedUpper(row.id, root, this.snapshotDir(row.id, s.id));
      await this.d.images.ensureMounted(row.id);
      if (row.state === 'created')
        await this.d.db.container.update({ where: { id: row.id }, data: { state: 'stopped' } });
      await this.d.events.append('container.snapshot-restored', {
        actor,
        subject: row.name,
        data: { snapshot: snapName },
      });
    });
  }

  async deleteSnapshot(name: string, snapName: string, actor: string): Promise<void> {
    await this.withContainer(name, undefined, async (row) => {
      const s = await this.findSnapshot(row, snapName);
      rmSync(this.snapshotDir(row.id, s.id), { recursive: true, force: true });
      await this.d.db.snapshot.delete({ where: { id: s.id } });
      await this.d.events.append('container.snapshot-deleted', {
        actor,
        subject: row.name,
        data: { snapshot: snapName },
      });
    });
  }

  /** A new container with the source's config and files (from its current state or a snapshot). */
  async clone(name: string, newName: string, actor: string, snapName?: string): Promise<ContainerInfo> {
    const src = await this.get(name);
    const seed = await this.mutex.run(src.id, async () => {
      const row = (await this.d.db.container.findUnique({ where: { id: src.id } }))!;
      if (snapName) return this.snapshotDir(row.id, (await this.findSnapshot(row, snapName)).id);
      const why = refusal('clone', row.name, row.state as ContainerState);
      if (why) throw conflict(why);
      const root = this.d.images.root(row.id);
      if (!root) throw new AgentError('INTERNAL', `container ${row.name} has no root filesystem`);
      // A copy taken under the source's lock, so the source may start while the clone is made.
      const tmp = join(this.d.stateDir, 'containers', `.clone-${randomBytes(4).toString('hex')}`);
      await this.copyUpper(row.id, root.upper, tmp);
      return tmp;
    });
    const config = JSON.parse(src.config) as ContainerConfig;
    try {
      return await this.create({ ...config, name: newName, autostart: false }, actor, {
        seedUpper: seed,
        seedIdBase: src.idBase,
        event: 'container.cloned',
        from: src.name,
      });
    } finally {
      if (!snapName) rmSync(seed, { recursive: true, force: true });
    }
  }

  /** The container's root filesystem path, mounted (for file push/pull). */
  async rootPath(row: ContainerRecord): Promise<string> {
    await this.d.images.ensureMounted(row.id);
    const root = this.d.images.root(row.id);
    if (!root) throw new AgentError('INTERNAL', `container ${row.name} has no root filesystem`);
    return root.path;
  }

  /** Host uid/gid for a container uid/gid (shifted into its range unless privileged). */
  hostIds(row: ContainerRecord, uid: number, gid: number): { uid: number; gid: number } {
    const base = row.idBase ?? 0;
    return { uid: base + uid, gid: base + gid };
  }
}

export function checkLimits(l: Limits, max: Limits, field: string): void {
  for (const key of ['cpus', 'memoryBytes', 'pids'] as const) {
    const v = l[key];
    const m = max[key];
    if (v !== undefined && m !== undefined && v > m)
      throw forbidden(`${field}.${key} ${v} is above this agent's maximum of ${m}`);
  }
}

/** A user given by number: `uid[:gid]`. */
const NUMERIC_USER = /^(\d+)(?::(\d+))?$/;

/** The container's /etc/passwd, read without leaving its root; '' when it has none. */
export function passwdIn(rootfs: string): string {
  return readFileInRoot(rootfs, '/etc/passwd')?.toString('utf8') ?? '';
}

/** A container user (`uid[:gid]` or a name; none is root), its passwd file read only for a name. */
export function resolveUser(rootfs: string, user: string | undefined): { uid: number; gid: number } {
  return resolveUserIn(user && !NUMERIC_USER.test(user) ? passwdIn(rootfs) : '', user);
}

/** resolveUser with the passwd file's text in hand (a name not in it: the name cannot be known). */
export function resolveUserIn(passwd: string, user: string | undefined): { uid: number; gid: number } {
  if (!user) return { uid: 0, gid: 0 };
  const m = NUMERIC_USER.exec(user);
  if (m) return { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) };
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] === user && f.length >= 4) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  throw invalid('user', `no user ${user} in the image's /etc/passwd`);
}

function prepareVolumeDir(dir: string, idBase: number | undefined): void {
  if (existsSync(dir)) return;
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  // Container root owns a fresh volume, so it can write there.
  if (idBase !== undefined) chownSync(dir, idBase, idBase);
}

/** cpSync keeps modes and times but not owners: walk and copy uid/gid (files of a userns container). */
interface IdShift {
  from: number;
  to: number;
}

/** Ids of one container's range moved into another's (a clone's files are its own). */
function shiftId(id: number, shift: IdShift | undefined): number {
  if (!shift || shift.from === shift.to || id < shift.from || id >= shift.from + ID_RANGE) return id;
  return id - shift.from + shift.to;
}

function copyOwnership(from: string, to: string, shift?: IdShift): void {
  const st = lstatSync(from);
  lchownSync(to, shiftId(st.uid, shift), shiftId(st.gid, shift));
  if (st.isDirectory()) for (const e of readdirSync(from)) copyOwnership(join(from, e), join(to, e), shift);
}

/**
 * Whether a start can be one request with the instance's create (the monitor starts init as
 * soon as it is made): not on a bridge, whose veth is attached by init's pid in between.
 */
export function startsInCreate(config: Pick<ContainerConfig, 'network'>): boolean {
  return !onBridgeNetwork(config.network);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The name in `names` closest to `name` (edit distance ≤ 2, or a prefix), for "did you mean". */
export function closest(name: string, names: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const n of names) {
    const d = n.startsWith(name) || name.startsWith(n) ? 1 : editDistance(name, n);
    if (d < bestD) {
      best = n;
      bestD = d;
    }
  }
  return bestD <= 2 ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}
