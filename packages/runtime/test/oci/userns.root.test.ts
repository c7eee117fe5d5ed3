// Needs root: a container that joins another's user namespace by path (the spec's
// `{ type: "user", path }`, as a pod's containers share one) while creating its own mount,
// PID, UTS, IPC and network namespaces, which must then belong to that user namespace.
import { chmodSync, readlinkSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { Runtime } from '../../src/container/runtime.ts';
import type { OciConfig } from '../../src/spec/config.ts';
import { busyboxRootfs, deleteAll, makeBundle, removeScratch, runCaptured, scratch } from '../fixtures.ts';

let base: string;
let rootfs: string;
let rt: Runtime;
let n = 0;
const id = () => `berth-test-userns-${process.pid}-${++n}`;

beforeAll(() => {
  base = scratch();
  chmodSync(base, 0o755); // container root in a user namespace must reach the rootfs
  rootfs = busyboxRootfs(base);
  rt = new Runtime({ root: `${base}/state` });
});
afterEach(() => deleteAll(rt));
afterAll(() => removeScratch(base));

const noDevptsGid = (c: OciConfig) => {
  const devpts = c.mounts!.find((m) => m.destination === '/dev/pts')!;
  devpts.options = devpts.options!.filter((o) => !o.startsWith('gid='));
};

test('join a user namespace by path and create the other namespaces inside it', async () => {
  const owner = id();
  await rt.create(owner, {
    bundle: makeBundle(base, 'owner', rootfs, (c) => {
      c.process!.args = ['sleep', '60'];
      c.linux!.namespaces!.push({ type: 'user' });
      c.linux!.uidMappings = [{ containerID: 0, hostID: 300000, size: 65536 }];
      c.linux!.gidMappings = [{ containerID: 0, hostID: 300000, size: 65536 }];
      noDevptsGid(c);
    }),
    stdio: 'ignore',
  });
  await rt.start(owner);
  const ownerPid = rt.state(owner).pid!;
  const userns = readlinkSync(`/proc/${ownerPid}/ns/user`);
  expect(userns).not.toBe(readlinkSync('/proc/self/ns/user'));

  const joiner = id();
  const bundle = makeBundle(base, 'joiner', rootfs, (c) => {
    c.process!.args = [
      'sh',
      '-c',
      'cat /proc/self/uid_map; readlink /proc/self/ns/user; echo pid=$$; id -u; hostname; ' +
        'ls /sys/class/net; grep -c " /proc " /proc/self/mounts; touch /tmp/x && stat -c %u /tmp/x',
    ];
    c.hostname = 'joiner';
    c.linux!.namespaces!.push({ type: 'user', path: `/proc/${ownerPid}/ns/user` });
    noDevptsGid(c);
  });
  const r = await runCaptured(rt, joiner, bundle);
  expect(r.code, r.out).toBe(0);
  const lines = r.out.split('\n').map((l) => l.trim().replace(/\s+/g, ' '));
  expect(lines[0]).toBe('0 300000 65536'); // the owner's map: none was written
  expect(lines[1]).toBe(userns);
  expect(lines[2]).toBe('pid=1'); // its own PID namespace, made inside the joined one
  expect(lines[3]).toBe('0');
  expect(lines[4]).toBe('joiner');
  expect(lines[5]).toBe('lo');
  expect(lines[6]).toBe('1'); // /proc mounted: the PID namespace is the user namespace's own
  expect(lines[7]).toBe('0');
  expect(rt.state(owner).status).toBe('running');
});

test('a joined user namespace path that is not one is refused and leaves nothing', async () => {
  const cid = id();
  const bundle = makeBundle(base, 'bad', rootfs, (c) => {
    c.linux!.namespaces!.push({ type: 'user', path: '/proc/self/ns/net' });
  });
  await expect(rt.create(cid, { bundle, stdio: 'ignore' })).rejects.toThrow(
    /linux\.namespaces: setns user namespace/,
  );
  expect(rt.list()).toEqual([]);
});
