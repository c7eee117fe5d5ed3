import { describe, expect, it } from 'vitest';
import { sha256 } from './digest.ts';
import { isImageError } from './errors.ts';
import { ManifestSchema, parseDocument } from './oci.ts';
import { selectManifest } from './platform.ts';
import { parseChallenge } from './registry.ts';
import { progressIterable } from './store.ts';

describe('parseChallenge', () => {
  it('reads bearer and basic challenges', () => {
    expect(
      parseChallenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
      ),
    ).toEqual({
      scheme: 'bearer',
      params: {
        realm: 'https://auth.docker.io/token',
        service: 'registry.docker.io',
        scope: 'repository:library/alpine:pull',
      },
    });
    expect(parseChallenge('Basic realm="x"')?.scheme).toBe('basic');
    expect(parseChallenge(null)).toBeUndefined();
  });
});

describe('selectManifest', () => {
  const d = (arch: string, variant?: string) => ({
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: sha256(arch + (variant ?? '')),
    size: 1,
    platform: { os: 'linux', architecture: arch, ...(variant ? { variant } : {}) },
  });
  it('prefers the exact variant and lists what exists when nothing fits', () => {
    const list = [d('amd64'), d('arm', 'v6'), d('arm', 'v7'), d('arm64', 'v8')];
    expect(selectManifest(list, { os: 'linux', architecture: 'arm', variant: 'v7' }, 'x').digest).toBe(
      sha256('armv7'),
    );
    expect(selectManifest(list, { os: 'linux', architecture: 'arm64', variant: 'v8' }, 'x').digest).toBe(
      sha256('arm64v8'),
    );
    expect(selectManifest(list, { os: 'linux', architecture: 'amd64' }, 'x').digest).toBe(sha256('amd64'));
    let err: unknown;
    try {
      selectManifest(list, { os: 'linux', architecture: 'riscv64' }, 'img');
    } catch (e) {
      err = e;
    }
    expect(isImageError(err, 'platform_not_found')).toBe(true);
    expect(String(err)).toContain('linux/arm/v7');
  });
});

describe('document validation', () => {
  it('names the bad field of a manifest', () => {
    const bad = JSON.stringify({
      schemaVersion: 2,
      config: { mediaType: 'x', digest: 'sha256:zz', size: -1 },
      layers: [],
    });
    expect(() => parseDocument(ManifestSchema, bad, 'manifest m')).toThrow(/manifest m: config\.digest/);
    expect(() => parseDocument(ManifestSchema, '{', 'manifest m')).toThrow(/not valid JSON/);
  });
});

describe('progressIterable', () => {
  it('yields events in order and returns the result', async () => {
    const it = progressIterable(async (emit) => {
      emit({ type: 'status', phase: 'a', message: '1' });
      await new Promise((r) => setTimeout(r, 5));
      emit({ type: 'status', phase: 'b', message: '2' });
      return 42;
    });
    const phases: string[] = [];
    let r = await it.next();
    while (!r.done) {
      if (r.value.type === 'status') phases.push(r.value.phase);
      r = await it.next();
    }
    expect(phases).toEqual(['a', 'b']);
    expect(r.value).toBe(42);
  });

  it('throws the operation error after the events before it', async () => {
    const it = progressIterable(async (emit) => {
      emit({ type: 'status', phase: 'a', message: '1' });
      throw new Error('boom');
    });
    expect((await it.next()).done).toBe(false);
    await expect(it.next()).rejects.toThrow('boom');
  });
});
