// Root: `berth image …` end to end through the bundled CLI against the real bundled berthd
// (root: berthd mounts and unpacks as root). Export → remove → import gives the same digest.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ImageInfo } from '@berth/contracts';
import { buildImage } from '@berth/runtime/testing/registry';
import { expect, it } from 'vitest';
import { z } from 'zod';
import { useBerthd } from './harness.ts';

const agent = useBerthd('cli-image');
const berth = (...args: string[]) => agent.berth(args);

async function list(): Promise<ImageInfo[]> {
  const r = await berth('image', 'ls', '--format', 'json');
  expect(r.code).toBe(0);
  return z.array(ImageInfo).parse(JSON.parse(r.stdout));
}

it('exports an image, removes it, imports the tar back with the same digest', async () => {
  const builtin = (await list()).find((i) => i.references.includes('berth.local/minimal:latest'));
  expect(builtin).toBeDefined();
  const tar = join(agent.dir, 'minimal.tar');
  const exported = await berth('image', 'export', 'berth.local/minimal:latest', '-o', tar);
  expect(exported).toMatchObject({
    code: 0,
    stderr: `exported berth.local/minimal:latest ${builtin!.digest} to ${tar}\n`,
  });
  expect(statSync(tar).size).toBeGreaterThan(100_000);

  const removed = await berth('image', 'rm', builtin!.digest);
  expect(removed.code).toBe(0);
  expect(removed.stdout).toBe(`untagged berth.local/minimal:latest\ndeleted ${builtin!.digest}\n`);
  expect((await list()).some((i) => i.digest === builtin!.digest)).toBe(false);
  expect((await berth('image', 'prune')).code).toBe(0);

  const imported = await berth('image', 'import', tar);
  expect(imported).toMatchObject({
    code: 0,
    stdout: `imported berth.local/minimal:latest ${builtin!.digest}\n`,
  });
  const again = (await list()).find((i) => i.digest === builtin!.digest);
  expect(again?.references).toEqual(['berth.local/minimal:latest']);
  expect(again?.source).toBe('archive');
});

it('imports an OCI layout directory under a given reference, and lists it in a table', async () => {
  const layout = join(agent.dir, 'layout');
  buildImage(layout, 'v2', { 'etc/motd': 'hi\n' }, { scratch: join(agent.dir, 'scratch') });
  const r = await berth('image', 'import', layout, '--reference', 'berth.local/test/motd:v2');
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^imported berth\.local\/test\/motd:v2 sha256:[a-f0-9]{64}\n$/);
  const table = await berth('image', 'ls');
  expect(table.stdout.split('\n')[0]).toMatch(/^REFERENCE\s+DIGEST\s+SIZE\s+SOURCE\s+ADDED\s+CONTAINERS$/);
  expect(table.stdout).toContain('berth.local/test/motd:v2');
});

it('fails with a plain sentence and status 1, leaving no partial file', async () => {
  const out = join(agent.dir, 'nothing.tar');
  const r = await berth('image', 'export', 'nothere:1', '-o', out);
  expect(r).toMatchObject({ code: 1, stderr: 'berth: image: no image "nothere:1" in the store\n' });
  expect(existsSync(out)).toBe(false);
  const bad = await berth('image', 'import', join(agent.dir, 'missing.tar'));
  expect(bad).toMatchObject({
    code: 1,
    stderr: `berth: archive ${join(agent.dir, 'missing.tar')}: no such file or directory\n`,
  });
  const pull = await berth('image', 'pull', '127.0.0.1:1/none:1');
  expect(pull.code).toBe(1);
  expect(pull.stderr).toMatch(/^berth: 127\.0\.0\.1:1\/none:1: /);
});
