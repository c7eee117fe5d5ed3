import { describe, expect, it } from 'vitest';
import { isImageError } from './errors.ts';
import { normalizeReference, parseReference } from './reference.ts';

describe('parseReference', () => {
  it('normalises like docker pull', () => {
    expect(normalizeReference('alpine')).toBe('docker.io/library/alpine:latest');
    expect(normalizeReference('docker.io/library/alpine:3.20')).toBe('docker.io/library/alpine:3.20');
    expect(normalizeReference('ghcr.io/org/app/x:v1')).toBe('ghcr.io/org/app/x:v1');
    expect(normalizeReference('user/app')).toBe('docker.io/user/app:latest');
    expect(normalizeReference('localhost/app')).toBe('localhost/app:latest');
    const d = `sha256:${'a'.repeat(64)}`;
    expect(parseReference(`registry.example:5000/app@${d}`)).toEqual({
      registry: 'registry.example:5000',
      repository: 'app',
      tag: undefined,
      digest: d,
    });
    expect(parseReference('127.0.0.1:5000/a/b:t').registry).toBe('127.0.0.1:5000');
  });

  it('rejects bad input naming the field', () => {
    for (const bad of ['', 'UPPER/case', 'a@sha256:xyz', 'a:bad tag', 'a//b', 'x:5000:1/a']) {
      let err: unknown;
      try {
        parseReference(bad, 'image');
      } catch (e) {
        err = e;
      }
      expect(isImageError(err, 'invalid_reference'), bad).toBe(true);
      expect(String((err as Error).message)).toMatch(/^image: /);
    }
  });
});
