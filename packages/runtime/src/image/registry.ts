// A client of the OCI distribution API (v2): manifests and blobs, anonymous bearer tokens and
// basic auth with stored credentials, and layer downloads that resume with HTTP Range after a
// broken connection (or a crash: the ingest file is kept and re-hashed). Every response is
// checked: status, media type, size and digest.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from './atomic.ts';
import type { BlobStore } from './blobs.ts';
import { type Digest, sha256 } from './digest.ts';
import { ImageError } from './errors.ts';
import { type Descriptor, INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES, MAX_DOCUMENT_BYTES } from './oci.ts';
import { DOCKER_HUB, type ImageReference } from './reference.ts';

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface CredentialStore {
  get(registry: string): Promise<RegistryCredentials | undefined>;
}

const CredentialsFileSchema = z.record(z.string(), z.object({ username: z.string(), password: z.string() }));

/** Credentials per registry host in a root-only JSON file (the agent may keep them in its DB). */
export class FileCredentialStore implements CredentialStore {
  constructor(private readonly file: string) {}

  private load(): Record<string, RegistryCredentials> {
    if (!existsSync(this.file)) return {};
    return CredentialsFileSchema.parse(JSON.parse(readFileSync(this.file, 'utf8')));
  }

  async get(registry: string): Promise<RegistryCredentials | undefined> {
    return this.load()[registry];
  }

  async set(registry: string, creds: RegistryCredentials | undefined): Promise<void> {
    if (creds && (!creds.username || creds.username.includes(':')))
      throw new ImageError('unauthorized', 'username: must be non-empty and contain no ":"');
    const all = this.load();
    if (creds) all[registry] = creds;
    else delete all[registry];
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    writeFileAtomic(this.file, JSON.stringify(all), 0o600);
  }
}

export interface RegistryClientOptions {
  credentials?: CredentialStore;
  /** Registries (host[:port]) spoken to over plain HTTP, e.g. a test registry on loopback. */
  insecure?: readonly string[];
  /** Attempts per blob after a broken connection or a 5xx. */
  retries?: number;
  /** Milliseconds before the first retry (doubling each time). */
  retryDelayMs?: number;
  fetch?: typeof fetch;
}

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: Digest;
}

const TokenSchema = z
  .object({ token: z.string().min(1).optional(), access_token: z.string().min(1).optional() })
  .refine((t) => t.token || t.access_token, { message: 'token: missing' });

const MANIFEST_ACCEPT = [...MANIFEST_MEDIA_TYPES, ...INDEX_MEDIA_TYPES].join(', ');

/** Errors worth another attempt: broken connections, truncated bodies, 5xx, 429, 408. */
class TransientError extends Error {}

export function parseChallenge(
  header: string | null,
): { scheme: string; params: Record<string, string> } | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/(\w+)=(?:"([^"]*)"|([^\s,]*))/g))
    params[p[1]!.toLowerCase()] = p[2] ?? p[3] ?? '';
  return { scheme: m[1]!.toLowerCase(), params };
}

export class RegistryClient {
  private readonly fetch: typeof fetch;
  private readonly auth = new Map<string, string>();

  constructor(private readonly opts: RegistryClientOptions = {}) {
    this.fetch = opts.fetch ?? globalThis.fetch;
  }

  private base(registry: string): string {
    const host = registry === DOCKER_HUB ? 'registry-1.docker.io' : registry;
    return `${this.opts.insecure?.includes(registry) ? 'http' : 'https'}://${host}`;
  }

  private async authenticate(ref: ImageReference, challenge: string | null, scope: string): Promise<string> {
    const c = parseChallenge(challenge);
    const creds = await this.opts.credentials?.get(ref.registry);
    const basic = creds
      ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`
      : undefined;
    if (c?.scheme === 'basic') {
      if (!basic)
        throw new ImageError('unauthorized', `${ref.registry}: needs a username and password (none stored)`);
      return basic;
    }
    if (c?.scheme === 'bearer' && c.params.realm) {
      const url = new URL(c.params.realm);
      if (c.params.service) url.searchParams.set('service', c.params.service);
      url.searchParams.set('scope', c.params.scope || scope);
      const res = await this.fetch(url, { headers: basic ? { authorization: basic } : {} }).catch((e) => {
        throw new ImageError('registry_error', `${ref.registry}: token service ${url.origin}: ${e.message}`);
      });
      if (res.status === 401 || res.status === 403)
        throw new ImageError(
          'unauthorized',
          `${ref.registry}: the token service refused ${basic ? 'the stored credentials' : 'anonymous access'}`,
        );
      if (!res.ok)
        throw new ImageError('registry_error', `${ref.registry}: token service answered ${res.status}`);
      const body = TokenSchema.safeParse(await res.json().catch(() => undefined));
      if (!body.success)
        throw new ImageError(
          'registry_error',
          `${ref.registry}: token service response: ${body.error.message}`,
        );
      return `Bearer ${body.data.token ?? body.data.access_token}`;
    }
    throw new ImageError(
      'unauthorized',
      `${ref.registry}: unsupported authentication challenge ${JSON.stringify(challenge)}`,
    );
  }

  /** One request, authenticating once on a 401 challenge. */
  private async request(
    ref: ImageReference,
    path: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ) {
    const scope = `repository:${ref.repository}:pull`;
    const key = `${ref.registry}|${scope}`;
    const url = `${this.base(ref.registry)}/v2/${ref.repository}/${path}`;
    const go = () => {
      const auth = this.auth.get(key);
      return this.fetch(url, { headers: { ...headers, ...(auth ? { authorization: auth } : {}) }, signal });
    };
    let res = await go();
    if (res.status === 401) {
      const challenge = res.headers.get('www-authenticate');
      await res.body?.cancel();
      this.auth.set(key, await this.authenticate(ref, challenge, scope));
      res = await go();
      if (res.status === 401) {
        await res.body?.cancel();
        throw new ImageError('unauthorized', `${ref.registry}/${ref.repository}: access denied`);
      }
    }
    return res;
  }

  /** Fetches a manifest or index by tag or digest, verified against its digest. */
  async getManifest(
    ref: ImageReference,
    tagOrDigest: string,
    signal?: AbortSignal,
  ): Promise<FetchedManifest> {
    const where = `${ref.registry}/${ref.repository}:${tagOrDigest}`;
    let res: Response;
    try {
      res = await this.request(ref, `manifests/${tagOrDigest}`, { accept: MANIFEST_ACCEPT }, signal);
    } catch (e) {
      if (e instanceof ImageError) throw e;
      throw new ImageError('registry_error', `${where}: ${(e as Error).message}`, { cause: e });
    }
    if (res.status === 404) {
      await res.body?.cancel();
      throw new ImageError('not_found', `${where}: no such manifest`);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new ImageError('registry_error', `${where}: manifest request answered ${res.status}`);
    }
    const declared = Number(res.headers.get('content-length') ?? '0');
    if (declared > MAX_DOCUMENT_BYTES) {
      await res.body?.cancel();
      throw new ImageError('invalid_manifest', `${where}: manifest of ${declared} bytes is too large`);
    }
    const bytes = Buffer.from(await res.arrayBuffer());
    if (bytes.length > MAX_DOCUMENT_BYTES)
      throw new ImageError('invalid_manifest', `${where}: manifest too large`);
    const digest = sha256(bytes);
    if (tagOrDigest.startsWith('sha256:') && digest !== tagOrDigest)
      throw new ImageError('digest_mismatch', `${where}: the manifest served hashes to ${digest}`);
    const header = res.headers.get('docker-content-digest');
    if (header?.startsWith('sha256:') && header !== digest)
      throw new ImageError(
        'digest_mismatch',
        `${where}: Docker-Content-Digest ${header} but the body hashes to ${digest}`,
      );
    let mediaType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
    if (![...MANIFEST_MEDIA_TYPES, ...INDEX_MEDIA_TYPES].includes(mediaType)) {
      // Some registries answer application/json: fall back on the document's own mediaType.
      const inner = (() => {
        try {
          return (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown }).mediaType;
        } catch {
          return undefined;
        }
      })();
      if (typeof inner !== 'string' || ![...MANIFEST_MEDIA_TYPES, ...INDEX_MEDIA_TYPES].includes(inner))
        throw new ImageError(
          'unsupported_media_type',
          `${where}: unsupported manifest type ${mediaType || '(none)'}`,
        );
      mediaType = inner;
    }
    return { bytes, mediaType, digest };
  }

  /** Fetches a small blob (an image config) into memory, verified. */
  async getBlob(ref: ImageReference, desc: Descriptor, signal?: AbortSignal): Promise<Buffer> {
    if (desc.size > MAX_DOCUMENT_BYTES)
      throw new ImageError('invalid_manifest', `config ${desc.digest}: too large`);
    const res = await this.request(ref, `blobs/${desc.digest}`, {}, signal);
    if (!res.ok) {
      await res.body?.cancel();
      throw new ImageError(
        res.status === 404 ? 'not_found' : 'registry_error',
        `blob ${desc.digest}: ${res.status}`,
      );
    }
    const bytes = Buffer.from(await res.arrayBuffer());
    if (bytes.length !== desc.size)
      throw new ImageError(
        'size_mismatch',
        `blob ${desc.digest}: ${bytes.length} bytes, the manifest says ${desc.size}`,
      );
    if (sha256(bytes) !== desc.digest)
      throw new ImageError('digest_mismatch', `blob ${desc.digest}: content does not match`);
    return bytes;
  }

  /**
   * Downloads a blob into the store. Resumes from whatever an earlier attempt (or an earlier
   * process) left in the ingest file, retries broken connections with HTTP Range, and keeps
   * nothing if the result does not match the descriptor.
   */
  async downloadBlob(
    ref: ImageReference,
    desc: Descriptor,
    blobs: BlobStore,
    opts: { onBytes?: (done: number, total: number) => void; signal?: AbortSignal } = {},
  ): Promise<void> {
    if (blobs.has(desc.digest)) {
      opts.onBytes?.(desc.size, desc.size);
      return;
    }
    const retries = this.opts.retries ?? 5;
    const { path } = blobs.ingest(desc.digest);
    let { hash, size: offset } = await blobs.hashIngest(path);
    let resumedFromDisk = offset > 0;
    if (offset > desc.size) {
      await rm(path, { force: true });
      ({ hash, size: offset } = await blobs.hashIngest(path));
      resumedFromDisk = false;
    }
    let failures = 0;
    for (;;) {
      if (opts.signal?.aborted) throw new ImageError('aborted', 'the pull was cancelled');
      try {
        if (offset < desc.size) {
          const res = await this.request(
            ref,
            `blobs/${desc.digest}`,
            offset > 0 ? { range: `bytes=${offset}-` } : {},
            opts.signal,
          ).catch((e) => {
            if (e instanceof ImageError) throw e;
            throw new TransientError((e as Error).message);
          });
          if (res.status === 200 && offset > 0) {
            // The server ignored Range: start over.
            await rm(path, { force: true });
            ({ hash, size: offset } = await blobs.hashIngest(path));
          } else if (res.status === 206) {
            const cr = res.headers.get('content-range') ?? '';
            if (!cr.startsWith(`bytes ${offset}-`)) {
              await res.body?.cancel();
              throw new ImageError(
                'registry_error',
                `blob ${desc.digest}: Content-Range ${cr} does not start at ${offset}`,
              );
            }
          } else if (res.status !== 200) {
            await res.body?.cancel();
            if (res.status >= 500 || res.status === 429 || res.status === 408)
              throw new TransientError(`blob ${desc.digest}: ${res.status}`);
            throw new ImageError(
              res.status === 404 ? 'not_found' : 'registry_error',
              `blob ${desc.digest}: ${res.status}`,
            );
          }
          const length = res.headers.get('content-length');
          if (length !== null && offset + Number(length) !== desc.size) {
            await res.body?.cancel();
            throw new ImageError(
              'size_mismatch',
              `blob ${desc.digest}: the registry sends ${offset + Number(length)} bytes, the manifest says ${desc.size}`,
            );
          }
          const fh = await open(path, 'a', 0o644);
          try {
            if (res.body)
              for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
                if (offset + chunk.length > desc.size) {
                  await fh.close().catch(() => {});
                  await rm(path, { force: true });
                  throw new ImageError(
                    'size_mismatch',
                    `blob ${desc.digest}: more than the ${desc.size} bytes the manifest says`,
                  );
                }
                await fh.write(chunk);
                hash.update(chunk);
                offset += chunk.length;
                opts.onBytes?.(offset, desc.size);
              }
            await fh.sync();
          } catch (e) {
            if (e instanceof ImageError) throw e;
            throw new TransientError((e as Error).message);
          } finally {
            await fh.close().catch(() => {});
          }
          if (offset < desc.size)
            throw new TransientError(`blob ${desc.digest}: connection closed at ${offset}/${desc.size}`);
        }
        try {
          await blobs.commit(path, hash, offset, desc.digest, desc.size);
          return;
        } catch (e) {
          // An ingest left by a killed process may hold bytes it never confirmed: once, start clean.
          if (!resumedFromDisk) throw e;
          resumedFromDisk = false;
          ({ hash, size: offset } = await blobs.hashIngest(path));
        }
      } catch (e) {
        if (!(e instanceof TransientError) || opts.signal?.aborted) {
          if (opts.signal?.aborted) throw new ImageError('aborted', 'the pull was cancelled');
          throw e;
        }
        if (++failures > retries)
          throw new ImageError(
            'registry_error',
            `blob ${desc.digest}: gave up after ${failures} attempts: ${e.message}`,
          );
        await new Promise((r) => setTimeout(r, (this.opts.retryDelayMs ?? 200) * 2 ** (failures - 1)));
      }
    }
  }
}
