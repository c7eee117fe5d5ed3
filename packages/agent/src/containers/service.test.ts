import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentPolicy } from '@berth/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeImages, FakeRuntime } from '../../test/fakes.ts';
import { type AgentDb, openAgentDb } from '../db/index.ts';
import { EventLog } from '../events/log.ts';
import type { RuntimeExit } from '../runtime/types.ts';
import { recover } from './recovery.ts';
import { ContainerService, closest, resolveUserIn, startsInCreate } from './service.ts';

// The container service's logic against a real (temporary) agent DB, with the fake runtime
// injected explicitly. What the kernel does is tested by the root tests through the CLI.

let dir: string;
let db: AgentDb;
let rt: FakeRuntime;
let svc: ContainerService;
let events: EventLog;

function service(policy: Partial<AgentPolicy> = {}): ContainerService {
  return new ContainerService({
    db,
    events,
    runtime: rt,
    images: new FakeImages(join(dir, 'roots')),
    policy: AgentPolicy.parse(policy),
    stateDir: join(dir, 'state'),
    groupPath: async (g) => (g ? `/berth-test/g.${g}` : '/berth-test'),
  });
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-test-svc-'));
  db = await openAgentDb(join(dir, 'agent.db'));
  events = new EventLog(db, 1000);
  rt = new FakeRuntime();
  svc = service();
});
afterEach(async () => {
  svc.close();
  await db.$disconnect();
  rmSync(dir, { recursive: true, force: true });
});

const kinds = async () =>
  (await events.list({ after: 0 })).map((e) => `${e.kind} ${e.subject} ${e.actor ?? ''}`.trim());

describe('lifecycle', () => {
  it('creates, starts, stops and deletes, each step in the event log with its actor', async () => {
    const c = await svc.create({ name: 'lab', image: 'busybox', command: ['sleep', '100'] }, 'alice');
    expect(c.state).toBe('created');
    expect(c.config.command).toEqual(['sleep', '100']);
    expect((await svc.start('lab', 'alice')).state).toBe('running');
    const stopped = await svc.stop('lab', 'bob');
    expect(stopped.state).toBe('stopped');
    expect(stopped.exitCode).toBe(143);
    await svc.delete('lab', 'bob');
    expect(await svc.list()).toEqual([]);
    expect(await db.containerSpec.count()).toBe(0); // its spec went with it
    expect(await kinds()).toEqual([
      'container.created lab alice',
      'container.started lab alice',
      'container.stopped lab bob',
      'container.deleted lab bob',
    ]);
    expect(existsSync(join(dir, 'roots', c.id))).toBe(false);
    expect(existsSync(svc.dir(c.id))).toBe(false);
  });

  it('creates and starts in one call: running, created then started in the log, no intent left', async () => {
    const c = await svc.create({ name: 'now', image: 'busybox', command: ['true'] }, 'alice', {
      start: true,
    });
    expect(c.state).toBe('running');
    expect(rt.calls).toEqual([`create ${c.id}`, `start ${c.id}`]);
    expect((await db.containerSpec.findUnique({ where: { containerId: c.id } }))?.spec).toContain('"true"');
    expect(await db.intent.count()).toBe(0);
    rt.exit(c.id, 7);
    await until(async () => (await svc.inspect('now')).state === 'stopped');
    expect(await kinds()).toEqual([
      'container.created now alice',
      'container.started now alice',
      'container.exited now',
    ]);
    // The exit as recorded: its code, in the record and in its event, and when.
    const after = await svc.inspect('now');
    expect(after.exitCode).toBe(7);
    expect(Date.parse(after.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(after.startedAt!));
    expect(Date.parse(after.startedAt!)).toBeGreaterThanOrEqual(Date.parse(after.createdAt));
    const exited = (await events.list({ after: 0 })).at(-1)!;
    expect(exited.data).toEqual({ id: c.id, exitCode: 7, signal: 0 });
    expect(Math.abs(Date.parse(exited.at) - Date.parse(after.finishedAt!))).toBeLessThan(1000);
  });

  it('keeps a container created when its start fails in the same call, and says why', async () => {
    rt.failStart = new Error('exec /nope: No such file or directory');
    await expect(
      svc.create({ name: 'bad', image: 'busybox', command: ['/nope'] }, 'alice', { start: true }),
    ).rejects.toThrow(/exec \/nope/);
    const c = await svc.inspect('bad');
    expect(c.state).toBe('created');
    expect((await db.containerSpec.findUnique({ where: { containerId: c.id } }))?.spec).toContain('/nope');
    expect(await db.intent.count()).toBe(0);
    expect(await kinds()).toEqual(['container.created bad alice']);
    rt.failStart = undefined;
    expect((await svc.start('bad', 'alice')).state).toBe('running');
  });

  it('creates and starts in one request to the runtime when it can, hearing the exit from it', async () => {
    rt.startsInCreate = true;
    const c = await svc.create({ name: 'one', image: 'busybox', command: ['true'] }, 'alice', {
      start: true,
    });
    expect(c.state).toBe('running');
    expect(rt.calls).toEqual([`create+start ${c.id}`]);
    expect(await db.intent.count()).toBe(0);
    rt.exit(c.id, 3);
    await until(async () => (await svc.inspect('one')).state === 'stopped');
    expect((await svc.inspect('one')).exitCode).toBe(3);
    expect(rt.waits).toBe(0); // heard from the create's own report, not by asking the monitor
    // A start of the stopped container: a fresh instance, created and started in one request.
    expect((await svc.start('one', 'alice')).state).toBe('running');
    expect(rt.calls).toEqual([`create+start ${c.id}`, `delete ${c.id}`, `create+start ${c.id}`]);
    rt.exit(c.id, 0);
    await until(async () => (await svc.inspect('one')).state === 'stopped');
    expect(await kinds()).toEqual([
      'container.created one alice',
      'container.started one alice',
      'container.exited one',
      'container.started one alice',
      'container.exited one',
    ]);
  });

  it('keeps a container created when its start in one request fails, and says why', async () => {
    rt.startsInCreate = true;
    rt.failStart = new Error('exec /nope: No such file or directory');
    await expect(
      svc.create({ name: 'bad1', image: 'busybox', command: ['/nope'] }, 'alice', { start: true }),
    ).rejects.toThrow(/exec \/nope/);
    const c = await svc.inspect('bad1');
    expect(c.state).toBe('created');
    expect(await db.intent.count()).toBe(0);
    expect(await kinds()).toEqual(['container.created bad1 alice']);
    rt.failStart = undefined;
    // Its failed instance is replaced by the next start.
    expect((await svc.start('bad1', 'alice')).state).toBe('running');
    expect(rt.calls).toEqual([`create+start ${c.id}`, `delete ${c.id}`, `create+start ${c.id}`]);
  });

  it("leaves the next start's exit waiter in place when a failed start's instance reports its exit late", async () => {
    rt.startsInCreate = true;
    rt.failStart = new Error('exec /nope: No such file or directory');
    // The failed instance's exit is reported only later (its monitor outlived the failed start).
    let lateExit!: (e: RuntimeExit) => void;
    const create = rt.create.bind(rt);
    rt.create = async (...args: Parameters<FakeRuntime['create']>) => {
      const made = await create(...args);
      if (!rt.failStart) return made;
      return { ...made, exited: new Promise<RuntimeExit>((resolve) => (lateExit = resolve)) };
    };
    await expect(
      svc.create({ name: 'late', image: 'busybox', command: ['/nope'] }, 'alice', { start: true }),
    ).rejects.toThrow(/exec \/nope/);
    rt.failStart = undefined;
    const c = await svc.start('late', 'alice');
    expect(c.state).toBe('running');
    lateExit({ code: 127, signal: 0 });
    await new Promise((resolve) => setImmediate(resolve));
    // Still watched by the running instance's waiter: asking again (as recovery does) adds none.
    svc.watch(c.id);
    expect(rt.waits).toBe(0);
    rt.exit(c.id, 0);
    await until(async () => (await svc.inspect('late')).state === 'stopped');
    expect(await kinds()).toEqual([
      'container.created late alice',
      'container.started late alice',
      'container.exited late',
    ]);
  });

  it("gives a stopped container's fresh instance a ready cgroup of the runtime's, not its old one made again", async () => {
    const reserved: string[] = [];
    const released: string[] = [];
    const deletes: Array<{ cgroupInBackground?: boolean } | undefined> = [];
    class SlotRuntime extends FakeRuntime {
      async reserveId(parent: string): Promise<string> {
        const slot = `slot${reserved.length}`;
        reserved.push(`${parent}/${slot}`);
        return slot;
      }
      releaseId(id: string): void {
        released.push(id);
      }
      override async delete(id: string, _force?: boolean, o?: { cgroupInBackground?: boolean }) {
        deletes.push(o);
        await super.delete(id);
      }
    }
    rt = new SlotRuntime();
    rt.startsInCreate = true;
    svc = service();
    const c = await svc.create({ name: 'again', image: 'busybox', command: ['true'] }, 'alice', {
      start: true,
    });
    expect(c.id).toBe('slot0');
    const cgroupOf = () => (rt.containers.get(c.id)!.spec.linux as { cgroupsPath: string }).cgroupsPath;
    expect(cgroupOf()).toBe('/berth-test/slot0');
    rt.exit(c.id, 0);
    await until(async () => (await svc.inspect('again')).state === 'stopped');
    expect((await svc.start('again', 'alice')).state).toBe('running');
    // The same container (its id, its record), in the slot reserved for this instance.
    expect(cgroupOf()).toBe('/berth-test/slot1');
    expect(reserved).toEqual(['/berth-test/slot0', '/berth-test/slot1']);
    expect(released).toContain('slot1'); // given up once the create took it (or failed)
    // The old instance's cgroup is removed in the background: the new one is elsewhere.
    expect(deletes).toEqual([{ cgroupInBackground: true }]);
    // The record's spec keeps the container's own path (what a plain create would use).
    const spec = (await db.containerSpec.findUnique({ where: { containerId: c.id } }))!.spec;
    expect(JSON.parse(spec).linux.cgroupsPath).toBe('/berth-test/slot0');
  });

  it('starts in the create only off the bridge (whose veth is attached between the two)', () => {
    expect(startsInCreate({ network: 'none' })).toBe(true);
    expect(startsInCreate({ network: 'host' })).toBe(true);
    expect(startsInCreate({ network: 'container:web' })).toBe(true);
    expect(startsInCreate({ network: 'bridge' })).toBe(false);
  });

  it('refuses verbs in the wrong state, saying why, and changes nothing', async () => {
    await svc.create({ name: 'lab', image: 'busybox' }, 'a');
    await svc.start('lab', 'a');
    await expect(svc.delete('lab', 'a')).rejects.toThrow(
      'cannot delete container "lab": it is running (delete needs created or stopped); stop it first, or delete with force',
    );
    await expect(svc.unfreeze('lab', 'a')).rejects.toThrow(/it is running \(unfreeze needs paused\)/);
    expect((await svc.inspect('lab')).state).toBe('running');
    await svc.delete('lab', 'a', true);
    expect(await svc.list()).toEqual([]);
  });

  it('suggests a close name when there is no such container', async () => {
    await svc.create({ name: 'lab1', image: 'busybox' }, 'a');
    await expect(svc.start('lab', 'a')).rejects.toThrow('no container named lab; did you mean lab1?');
    expect(closest('zzz', ['lab1'])).toBeUndefined();
  });

  it('refuses a taken name', async () => {
    await svc.create({ name: 'lab', image: 'busybox' }, 'a');
    await expect(svc.create({ name: 'lab', image: 'busybox' }, 'a')).rejects.toThrow(
      'a container named lab already exists',
    );
    await svc.create({ name: 'other', image: 'busybox' }, 'a');
    await expect(svc.rename('other', 'lab', 'a')).rejects.toThrow('a container named lab already exists');
  });

  it('rolls back a create the runtime refused: no record, root or directory left', async () => {
    rt.failCreate = new Error('boom');
    await expect(svc.create({ name: 'lab', image: 'busybox' }, 'a')).rejects.toThrow('boom');
    expect(await db.container.count()).toBe(0);
    expect(await db.intent.count()).toBe(0);
  });

  it('serialises operations on one container, in order', async () => {
    await svc.create({ name: 'lab', image: 'busybox' }, 'a');
    const order: string[] = [];
    await Promise.all([
      svc.start('lab', 'a').then(() => order.push('start')),
      svc.freeze('lab', 'a').then(() => order.push('freeze')),
      svc.unfreeze('lab', 'a').then(() => order.push('unfreeze')),
      svc.stop('lab', 'a').then(() => order.push('stop')),
    ]);
    expect(order).toEqual(['start', 'freeze', 'unfreeze', 'stop']);
  });
});

describe('users', () => {
  it('resolves a user by ids or by name in the given passwd text, refusing an unknown name', () => {
    const passwd = 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1001::/home/alice:/bin/bash\n';
    expect(resolveUserIn(passwd, undefined)).toEqual({ uid: 0, gid: 0 });
    expect(resolveUserIn('', '7')).toEqual({ uid: 7, gid: 7 });
    expect(resolveUserIn('', '7:8')).toEqual({ uid: 7, gid: 8 });
    expect(resolveUserIn(passwd, 'alice')).toEqual({ uid: 1000, gid: 1001 });
    expect(() => resolveUserIn(passwd, 'bob')).toThrow(/user: no user bob in the image's \/etc\/passwd/);
  });
});

describe('policy', () => {
  it('refuses privileged containers, host network and limits above the maximum unless allowed', async () => {
    const strict = service({ maxLimits: { memoryBytes: 2 ** 30 } });
    await expect(strict.create({ name: 'p', image: 'busybox', privileged: true }, 'a')).rejects.toThrow(
      /privileged containers are not allowed/,
    );
    await expect(strict.create({ name: 'h', image: 'busybox', network: 'host' }, 'a')).rejects.toThrow(
      /host's network is not allowed/,
    );
    await expect(
      strict.create({ name: 'm', image: 'busybox', limits: { memoryBytes: 2 ** 31 } }, 'a'),
    ).rejects.toThrow("limits.memoryBytes 2147483648 is above this agent's maximum of 1073741824");
    expect(await db.container.count()).toBe(0);
    const lax = service({ allowPrivileged: true });
    expect((await lax.create({ name: 'p', image: 'busybox', privileged: true }, 'a')).config.privileged).toBe(
      true,
    );
  });

  it('bind-mounts only inside the allowlist, resolving symlinks first', async () => {
    const allowed = join(dir, 'shared');
    mkdirSync(join(allowed, 'sub'), { recursive: true });
    const p = service({ bindMountAllowlist: [allowed] });
    const mount = (source: string) => ({
      name: 'b',
      image: 'busybox',
      volumes: [{ type: 'bind' as const, source, target: '/data' }],
    });
    await expect(p.create(mount('/etc'), 'a')).rejects.toThrow(
      /bind-mount \/etc: it is outside the agent's allowlist/,
    );
    await expect(p.create(mount(join(allowed, 'nope')), 'a')).rejects.toThrow(/does not exist on the host/);
    const c = await p.create(mount(join(allowed, 'sub')), 'a');
    const spec = JSON.parse(
      (await db.containerSpec.findUniqueOrThrow({ where: { containerId: c.id } })).spec,
    );
    expect(spec.mounts).toContainEqual(
      expect.objectContaining({ destination: '/data', source: join(allowed, 'sub'), type: 'bind' }),
    );
  });
});

describe('limits', () => {
  it('updates a running container live and keeps the merged limits', async () => {
    await svc.create({ name: 'lab', image: 'busybox', limits: { pids: 100 } }, 'a');
    const c = await svc.start('lab', 'a');
    const after = await svc.updateLimits('lab', { memoryBytes: 64 << 20, cpus: 1.5 }, 'a');
    expect(after.config.limits).toEqual({ pids: 100, memoryBytes: 64 << 20, cpus: 1.5 });
    expect(rt.containers.get(c.id)?.resources).toEqual({
      memory: { limit: 64 << 20 },
      cpu: { quota: 150_000, period: 100_000 },
    });
  });
});

describe('restart policies and recovery', () => {
  it('on-failure:2 restarts a failing container twice, then leaves it stopped', async () => {
    const c = await svc.create({ name: 'flaky', image: 'busybox', restart: 'on-failure:2' }, 'a');
    await svc.start('flaky', 'a');
    for (let i = 0; i < 3; i++) {
      await until(async () => rt.state(c.id)?.status === 'running');
      rt.exit(c.id, 1);
      await until(
        async () => (await svc.inspect('flaky')).state === 'stopped' || rt.state(c.id)?.status === 'running',
      );
      await until(
        async () => rt.calls.filter((x) => x === `start ${c.id}`).length >= Math.min(i + 2, 3) || i === 2,
      );
    }
    await until(async () => (await svc.inspect('flaky')).state === 'stopped');
    await new Promise((r) => setTimeout(r, 600));
    const info = await svc.inspect('flaky');
    expect(info.state).toBe('stopped');
    expect(info.restartCount).toBe(2);
    expect(info.exitCode).toBe(1);
  });

  it('does not restart a container that was stopped on purpose', async () => {
    await svc.create({ name: 'web', image: 'busybox', restart: 'always' }, 'a');
    await svc.start('web', 'a');
    await svc.stop('web', 'a');
    await new Promise((r) => setTimeout(r, 300));
    expect((await svc.inspect('web')).state).toBe('stopped');
  });

  it('re-adopts running containers, records exits that happened meanwhile, rolls back an interrupted create', async () => {
    const a = await svc.create({ name: 'alive', image: 'busybox' }, 'a');
    const b = await svc.create({ name: 'gone', image: 'busybox' }, 'a');
    await svc.start('alive', 'a');
    await svc.start('gone', 'a');
    svc.close();
    // "berthd is down": one container exits; a create was interrupted after its record.
    rt.exit(b.id, 3);
    await db.intent.create({ data: { op: 'create', containerId: 'halfmade0000' } });
    await db.container.create({
      data: {
        id: 'halfmade0000',
        name: 'half',
        image: 'busybox',
        imageDigest: 'x',
        config: '{}',
        state: 'creating',
      },
    });
    svc = service();
    const r = await recover(svc);
    expect(r).toEqual({ adopted: ['alive'], exited: ['gone'] });
    expect((await svc.inspect('gone')).exitCode).toBe(3);
    expect((await svc.inspect('alive')).state).toBe('running');
    expect(await db.container.findUnique({ where: { id: 'halfmade0000' } })).toBeNull();
    expect(await db.intent.count()).toBe(0);
    // The adopted one is watched again: its exit is recorded.
    rt.exit(a.id, 0);
    await until(async () => (await svc.inspect('alive')).state === 'stopped');
  });

  it('removes an instance whose pid was never recorded (berthd killed mid-start), and the next start makes a fresh one', async () => {
    const c = await svc.create({ name: 'mid', image: 'busybox', restart: 'no' }, 'a');
    await svc.start('mid', 'a');
    svc.close();
    // "berthd killed in a start": the row says running, the runtime's record has no pid.
    rt.containers.get(c.id)!.status = 'creating';
    svc = service();
    const r = await recover(svc);
    expect(r.exited).toEqual(['mid']);
    expect(rt.calls.at(-1)).toBe(`delete ${c.id}`);
    expect(rt.state(c.id)).toBeUndefined();
    expect((await svc.inspect('mid')).state).toBe('stopped');
    // The same left behind by a start of the stopped container (its row still stopped): the
    // next start retires it and makes a fresh instance, rather than starting a pid-less one.
    await svc.start('mid', 'a');
    rt.exit(c.id, 0);
    await until(async () => (await svc.inspect('mid')).state === 'stopped');
    rt.containers.get(c.id)!.status = 'creating';
    rt.calls.length = 0;
    await svc.start('mid', 'a');
    expect(rt.calls).toEqual([`delete ${c.id}`, `create ${c.id}`, `start ${c.id}`]);
    expect((await svc.inspect('mid')).state).toBe('running');
  });
});

async function until(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('concurrency', () => {
  it('creates many containers at once, each with its own user-namespace id range', async () => {
    const made = await Promise.all(
      Array.from({ length: 12 }, (_, i) => svc.create({ name: `c${i}`, image: 'busybox' }, 'a')),
    );
    expect(made).toHaveLength(12);
    const bases = (await db.container.findMany()).map((r) => r.idBase);
    expect(new Set(bases).size).toBe(12);
  });
});

describe('network policy', () => {
  it('refuses published ports without the bridge, and the bridge without bridge networking', async () => {
    const port = { hostPort: 8080, containerPort: 80 };
    await expect(svc.create({ name: 'p', image: 'busybox', ports: [port] }, 'a')).rejects.toThrow(
      'invalid ports: published ports need network bridge',
    );
    await expect(svc.create({ name: 'p', image: 'busybox', network: 'bridge' }, 'a')).rejects.toThrow(
      /this agent has no bridge networking/,
    );
    expect(await svc.list()).toEqual([]);
  });
});
