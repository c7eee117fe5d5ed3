import { createHash } from 'node:crypto';
import { ImageError } from './errors.ts';

/** A content digest, `sha256:<64 lowercase hex>`; the only algorithm Berth stores. */
export type Digest = `sha256:${string}`;

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isDigest(s: unknown): s is Digest {
  return typeof s === 'string' && DIGEST_RE.test(s);
}

/** Validates `value` as a sha256 digest; `field` names it in the error. */
export function parseDigest(value: unknown, field = 'digest'): Digest {
  if (isDigest(value)) return value;
  throw new ImageError(
    'invalid_digest',
    `${field}: expected a digest like sha256:<64 hex digits>, got ${JSON.stringify(value)}`,
  );
}

export function digestHex(d: Digest): string {
  return d.slice('sha256:'.length);
}

export function sha256(data: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}
