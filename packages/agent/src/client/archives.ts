import type { Readable } from 'node:stream';
import {
  ErrorBody,
  IMAGE_EXPORT_PATH,
  IMAGE_IMPORT_PATH,
  type ImageImportQuery,
  ImageInfo,
} from '@berth/contracts';
import { Agent, request } from 'undici';
import { z } from 'zod';
import { AgentUnreachableError, isUnreachableError } from './errors.ts';

// Image archives over berthd's socket as raw bytes (not JSON): import streams a tar to the
// agent, export streams one back. Errors come back as { code, message } and are thrown as
// AgentRequestError with that sentence.

export class AgentRequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'AgentRequestError';
  }
}

async function call(
  socketPath: string,
  path: string,
  init: { method: 'GET' | 'POST'; query: Record<string, string | undefined>; body?: Readable },
) {
  const url = new URL(path, 'http://berthd');
  for (const [k, v] of Object.entries(init.query)) if (v !== undefined) url.searchParams.set(k, v);
  const dispatcher = new Agent({ connect: { socketPath } });
  try {
    const res = await request(url, {
      method: init.method,
      dispatcher,
      ...(init.body ? { body: init.body, headers: { 'content-type': 'application/x-tar' } } : {}),
    });
    if (res.statusCode !== 200) {
      const text = await res.body.text();
      const parsed = ErrorBody.safeParse(safeJson(text));
      throw parsed.success
        ? new AgentRequestError(parsed.data.code, parsed.data.message)
        : new AgentRequestError('INTERNAL', `berthd answered ${res.statusCode}: ${text.slice(0, 200)}`);
    }
    return { res, close: () => dispatcher.close() };
  } catch (err) {
    await dispatcher.close();
    if (isUnreachableError(err)) throw new AgentUnreachableError(socketPath, { cause: err });
    throw err;
  }
}

/** Sends an image archive (OCI layout tar or docker save tar, maybe gzip) to berthd. */
export async function importImageArchive(
  socketPath: string,
  body: Readable,
  query: ImageImportQuery = {},
): Promise<ImageInfo[]> {
  const { res, close } = await call(socketPath, IMAGE_IMPORT_PATH, {
    method: 'POST',
    body,
    query: { reference: query.reference, platform: query.platform, actor: query.actor },
  });
  try {
    return z.array(ImageInfo).parse(await res.body.json());
  } finally {
    await close();
  }
}

/** An image as an OCI layout tar, streamed from berthd, and its manifest digest. */
export async function exportImageArchive(
  socketPath: string,
  image: string,
): Promise<{ digest: string; body: Readable; done: () => Promise<void> }> {
  const { res, close } = await call(socketPath, IMAGE_EXPORT_PATH, { method: 'GET', query: { image } });
  return { digest: String(res.headers['x-berth-image-digest'] ?? ''), body: res.body, done: close };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
