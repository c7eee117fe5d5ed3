import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type ErrorCode,
  httpStatus,
  IMAGE_EXPORT_PATH,
  IMAGE_IMPORT_PATH,
  ImageExportQuery,
  ImageImportQuery,
} from '@berth/contracts';
import type { z } from 'zod';
import { AgentError } from '../errors.ts';
import type { ImagesService } from './service.ts';

// Archives travel as raw bytes beside tRPC: `POST /v1/images/import` takes a tar (OCI layout
// or docker save, maybe gzip) as its body; `GET /v1/images/export?image=` answers with an OCI
// layout tar. Errors are JSON { code, message } with a matching HTTP status.

/** Handles the archive endpoints; false when the request is for something else. */
export function handleImageArchives(
  images: ImagesService,
  req: IncomingMessage,
  res: ServerResponse,
): boolean {
  const url = new URL(req.url ?? '/', 'http://berthd');
  if (url.pathname !== IMAGE_IMPORT_PATH && url.pathname !== IMAGE_EXPORT_PATH) return false;
  const run = url.pathname === IMAGE_IMPORT_PATH ? importing : exporting;
  run(images, req, res, url).catch((err: unknown) => {
    const e = err instanceof AgentError ? err : undefined;
    if (!e) console.error(`berthd: ${url.pathname}: ${(err as Error)?.stack ?? String(err)}`);
    if (res.headersSent) {
      res.destroy(err as Error);
      return;
    }
    sendError(res, e?.code ?? 'INTERNAL', e?.message ?? 'internal error; the details are in the log');
  });
  return true;
}

async function importing(images: ImagesService, req: IncomingMessage, res: ServerResponse, url: URL) {
  if (req.method !== 'POST') return sendError(res, 'INVALID_INPUT', `${IMAGE_IMPORT_PATH} takes POST`);
  const query = parse(ImageImportQuery, url);
  const imported = await images.importArchive(req, query);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(imported));
}

async function exporting(images: ImagesService, req: IncomingMessage, res: ServerResponse, url: URL) {
  if (req.method !== 'GET') return sendError(res, 'INVALID_INPUT', `${IMAGE_EXPORT_PATH} takes GET`);
  const { image } = parse(ImageExportQuery, url);
  const info = await images.inspect(image); // a clean error before any byte is sent
  res.writeHead(200, { 'content-type': 'application/x-tar', 'x-berth-image-digest': info.digest });
  await images.exportImage(info.digest, res);
}

function parse<T extends z.ZodType>(schema: T, url: URL): z.infer<T> {
  const r = schema.safeParse(Object.fromEntries(url.searchParams));
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new AgentError('INVALID_INPUT', `invalid ${issue.path.join('.') || 'query'}: ${issue.message}`);
  }
  return r.data;
}

function sendError(res: ServerResponse, code: ErrorCode, message: string) {
  res.writeHead(httpStatus[code], { 'content-type': 'application/json' });
  res.end(JSON.stringify({ code, message }));
}
