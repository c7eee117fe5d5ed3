// File push/pull end to end as root: the real bundled berthd and `berth`, a running
// user-namespaced container that tries every way it can to send a write or a read to the
// host (absolute and `..` symlinks, a symlinked parent, a directory swapped for a symlink in
// a loop while we push, tars with `..`, absolute names and symlink-then-file members), and
// directories pushed and pulled with their modes and owners. Needs root: containers.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { createAgentClient } from '@berth/agent/client';
import * as tar from 'tar-stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTaggedBerthd } from './harness.ts';

const agent = useTaggedBerthd(`berth-test-files-${process.pid}`, { stopTimeoutSec: 1 });
const { berth, ok } = agent;
let dir: string;
const socketPath = () => join(agent.dir, 'berthd.sock');

beforeAll(async () => {
  dir = agent.dir;
  writeFileSync(join(dir, 'secret'), 'host secret\n');
  mkdirSync(join(dir, 'target'));
  await ok('launch', 'busybox', 'f', '--', 'sleep', '100000');
}, 60_000);

const inside = (script: string) => ok('exec', 'f', '--', 'sh', '-c', script);

/** Nothing of ours appeared on the host next to the secret. */
function hostUntouched(): void {
  expect(existsSync(join(dir, 'pwned'))).toBe(false);
  expect(existsSync(join(dir, 'target', 'pwned'))).toBe(false);
  expect(readFileSync(join(dir, 'secret'), 'utf8')).toBe('host secret\n');
}

/** A tar of `entries` (files unless a type is given). */
async function tarOf(
  entries: Array<Partial<tar.Header> & { name: string; content?: string }>,
): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const { content, ...h } of entries)
    pack.entry(
      { mode: 0o644, ...h, ...(content !== undefined ? { size: Buffer.byteLength(content) } : {}) },
      content ?? '',
    );
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function pushTar(path: string, data: Buffer) {
  return createAgentClient({ socketPath: socketPath() }).container.push.mutate({
    name: 'f',
    path,
    dataBase64: data.toString('base64'),
    tar: true,
    actor: 'test',
  });
}

describe('symlinks never lead out of the root', () => {
  it('resolves absolute and `..` symlinks and symlinked parents inside the container', async () => {
    writeFileSync(join(dir, 'in.txt'), 'pushed\n');
    await inside(
      `ln -s ${dir}/secret /abs && ln -s ../../../../../../../..${dir} /up && ln -s ${dir}/target /parent && ln -s /etc /etc-link`,
    );
    const pulled = await berth('pull', 'f:/abs');
    expect(pulled.code).toBe(4);
    expect(pulled.stdout).not.toContain('host secret');
    expect((await berth('pull', 'f:/up/secret')).code).toBe(4);
    expect((await berth('pull', '-r', 'f:/up', join(dir, 'out-up'))).code).toBe(4);
    expect((await berth('push', join(dir, 'in.txt'), 'f:/up/pwned')).code).toBe(4);
    expect((await berth('push', join(dir, 'in.txt'), 'f:/parent/pwned')).code).toBe(4);
    // A symlinked parent that stays inside is followed, inside.
    await ok('push', join(dir, 'in.txt'), 'f:/etc-link/pushed.txt');
    expect(await inside('cat /etc/pushed.txt')).toBe('pushed\n');
    // Onto a symlink: refused, the link's target untouched.
    const onto = await berth('push', join(dir, 'in.txt'), 'f:/abs');
    expect(onto.code).toBe(5);
    expect(onto.stderr).toMatch(/is a symbolic link/);
    hostUntouched();
  });

  it('keeps a write inside while the container swaps a directory for a symlink to the host', async () => {
    // The container flips /race between a directory and a symlink to the host's dir.
    await inside(
      `(while :; do mkdir /race; rmdir /race; ln -s ${dir} /race; rm -f /race; done) >/dev/null 2>&1 &`,
    );
    const client = createAgentClient({ socketPath: socketPath() });
    for (let i = 0; i < 60; i++) {
      await client.container.push
        .mutate({
          name: 'f',
          path: '/race/pwned',
          dataBase64: Buffer.from('raced\n').toString('base64'),
          actor: 't',
        })
        .catch((e: Error) => expect(e.message).toMatch(/not exist|not found|symbolic link|not a directory/));
      hostUntouched();
    }
    await inside('kill $(pgrep -f "while :") 2>/dev/null; true');
  }, 120_000);

  it('refuses tars with `..`, absolute names or devices, writing nothing', async () => {
    const refusals: Array<[Array<Partial<tar.Header> & { name: string }>, RegExp]> = [
      [[{ name: 'ok.txt' }, { name: '../../pwned' }], /invalid tar: member "..\/..\/pwned" contains ".."/],
      [[{ name: 'ok.txt' }, { name: `${dir}/pwned` }], /has an absolute path/],
      [[{ name: 'null', type: 'character-device', devmajor: 1, devminor: 3 }], /is a character-device/],
      [[{ name: 'h', type: 'link', linkname: '../../etc/passwd' }], /contains ".."/],
      [[{ name: 'big-id', uid: 70_000 }], /uid 70000/],
    ];
    for (const [i, [entries, message]] of refusals.entries()) {
      await expect(pushTar(`/t${i}`, await tarOf(entries))).rejects.toThrow(message);
      // Checked whole before the first write: not even the good member is there.
      expect((await berth('exec', 'f', '--', 'test', '-e', `/t${i}`)).code).toBe(1);
    }
    hostUntouched();
  });

  it('keeps a symlink-then-file tar inside the root', async () => {
    const trick = pushTar(
      '/trick',
      await tarOf([
        { name: 'up', type: 'symlink', linkname: '../../../../../../..' },
        { name: 'up/pwned', content: 'up the links\n' },
        { name: 'link', type: 'symlink', linkname: dir },
        { name: 'link/pwned', content: 'through the link\n' },
      ]),
    );
    // The host path does not exist in the container: the member under it is refused.
    await expect(trick).rejects.toThrow(/cannot write under \/trick\/link: it is a symbolic link/);
    hostUntouched();
    // The one whose link leads somewhere went there, inside the container.
    expect(await inside('cat /pwned')).toBe('up the links\n');
    expect(await inside('readlink /trick/link')).toBe(`${dir}\n`);
  });
});

describe('directories', () => {
  it('pushes a directory with its modes and owners, and pulls it back', async () => {
    const src = mkdtempSync(join(dir, 'src-'));
    mkdirSync(join(src, 'sub'));
    writeFileSync(join(src, 'sub', 'run.sh'), '#!/bin/sh\necho hi\n');
    writeFileSync(join(src, 'private'), 'key\n');
    symlinkSync('sub/run.sh', join(src, 'link'));
    chmodSync(join(src, 'sub'), 0o750);
    chmodSync(join(src, 'sub', 'run.sh'), 0o755);
    chmodSync(join(src, 'private'), 0o600);
    chownSync(join(src, 'private'), 2000, 3000);
    await ok('push', '-r', src, 'f:/srv/app');
    const stats = await inside(
      'cd /srv/app && stat -c "%n %a %u:%g" sub sub/run.sh private && readlink link',
    );
    expect(stats).toContain('sub 750 0:0');
    expect(stats).toContain('sub/run.sh 755 0:0');
    expect(stats).toContain('private 600 2000:3000');
    expect(stats).toContain('sub/run.sh\n');

    // --uid/--gid give every member one owner.
    await ok('push', '-r', src, 'f:/srv/owned', '--uid', '1000', '--gid', '1001');
    expect(await inside('stat -c %u:%g /srv/owned/private /srv/owned/sub/run.sh')).toBe(
      '1000:1001\n1000:1001\n',
    );

    // Pull as a tar (owners as the container sees them) and into a directory.
    await ok('pull', 'f:/srv/app', join(dir, 'app.tar'));
    const listing = spawnSync('tar', ['-tvf', join(dir, 'app.tar'), '--numeric-owner'], {
      encoding: 'utf8',
    }).stdout;
    expect(listing).toMatch(/-rw------- 2000\/3000 .* \.\/private/);
    expect(listing).toMatch(/\.\/link -> sub\/run\.sh/);
    const out = join(dir, 'out');
    await ok('pull', '-r', 'f:/srv/app', out);
    expect(readFileSync(join(out, 'sub', 'run.sh'), 'utf8')).toBe('#!/bin/sh\necho hi\n');
    expect(lstatSync(join(out, 'sub', 'run.sh')).mode & 0o7777).toBe(0o755);
    expect(lstatSync(join(out, 'private')).mode & 0o7777).toBe(0o600);
    expect(lstatSync(join(out, 'private')).uid).toBe(2000);
    expect(readlinkSync(join(out, 'link'))).toBe('sub/run.sh');
  });

  it('refuses -r of something that is not a directory, clearly', async () => {
    const r = await berth('push', '-r', join(dir, 'secret'), 'f:/x');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is not a directory/);
  });
});
