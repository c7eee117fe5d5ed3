import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type AnyTRPCProcedure,
  type AnyTRPCRouter,
  getTRPCErrorFromUnknown,
  getTRPCErrorShape,
  type inferRouterContext,
  isTrackedEnvelope,
  TRPCError,
  transformTRPCResponse,
} from '@trpc/server';
import { incomingMessageToRequest } from '@trpc/server/adapters/node-http';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { getHTTPStatusCode, type HTTPErrorHandler, resolveResponse } from '@trpc/server/http';
import { isObservable, observableToAsyncIterable } from '@trpc/server/observable';
import { startTrace, type Trace, traceClock } from './trace.ts';

// berthd's tRPC over HTTP, in two ways:
// - The common queries and mutations (JSON, on their procedure's method, of paths that exist)
//   are called here directly: the body read as one string, the procedure called as tRPC's
//   resolveResponse calls it, its result or error shaped by tRPC's own getErrorShape (the
//   router's errorFormatter), its status by tRPC's getHTTPStatusCode, and the reply written by
//   one end() with its Content-Length. No WHATWG Request, Headers or Response is built on the
//   way (they cost about as much as a small procedure, measured under bench/agent.ts).
//   Subscriptions asked as server-sent events likewise: each value written as tRPC's SSE
//   producer writes it (the same events, ids, pings, errors and end), in one write as soon as
//   the procedure yields it, instead of three chunks through a chain of WHATWG streams.
// - Anything else (HEAD, another content type, a wrong method, an unknown path, a batch that
//   mixes types, a subscription asked without SSE, connectionParams, JSONL streaming) goes
//   through tRPC's own Node handler or resolveResponse, tRPC's documented adapter core, so
//   every rare case is answered exactly as tRPC answers it. http.test.ts asks both ways the
//   same questions and compares the replies, byte for byte for event streams.

export interface TrpcHandlerOptions<TRouter extends AnyTRPCRouter> {
  router: TRouter;
  /** Where the procedures' paths start, e.g. "/trpc/". */
  basePath: string;
  createContext: () => inferRouterContext<TRouter> | Promise<inferRouterContext<TRouter>>;
  onError?: HTTPErrorHandler<TRouter, IncomingMessage>;
  /** false (tests and bench/wire.ts only): everything through tRPC's handler and resolveResponse. */
  direct?: boolean;
  /** The largest request body read (bytes); a bigger one is refused with 413. Default MAX_BODY_BYTES. */
  maxBodyBytes?: number;
}

/**
 * The default bound of a request's body: room for the largest input the API takes (a file
 * push: 64 MiB as base64, FilePushRequest) and its JSON around it. A body beyond it is not
 * read into memory: 413 PAYLOAD_TOO_LARGE, and the connection is closed.
 */
export const MAX_BODY_BYTES = 96 * 1024 * 1024;

/**
 * BERTH_TRACE: a request's trace (server.ts starts it) by its request, so the handler can mark
 * its phases: read (body), call (the procedure, its input and output validated), reply.
 */
export const requestTraces = new WeakMap<IncomingMessage, Trace>();

export function trpcHandler<TRouter extends AnyTRPCRouter>(
  opts: TrpcHandlerOptions<TRouter>,
): (req: IncomingMessage, res: ServerResponse) => void {
  const maxBody = opts.maxBodyBytes ?? MAX_BODY_BYTES;
  const streaming = createHTTPHandler({
    ...opts,
    maxBodySize: maxBody,
  } as Parameters<typeof createHTTPHandler<TRouter>>[0]);
  const base = `/${opts.basePath.replace(/^\/+|\/+$/g, '')}/`;
  const direct = opts.direct ?? true;
  return (req, res) => {
    const url = req.url ?? '/';
    if (req.headers.accept?.includes('text/event-stream') || !url.startsWith(base)) {
      const call = direct && url.startsWith(base) ? subscriptionCall(opts.router, base, req) : undefined;
      if (call)
        stream(opts, call, req, res).catch((err: unknown) => {
          if (res.headersSent) res.destroy(err as Error);
          else streaming(req, res);
        });
      else streaming(req, res);
      return;
    }
    const calls = direct ? directCalls(opts.router, base, req) : undefined;
    (calls ? callDirectly(opts, calls, req, res, maxBody) : answer(opts, base, req, res, maxBody)).catch(
      (err: unknown) => {
        // Only the transport can fail here (procedures' errors become replies): a client that
        // went away, mostly.
        if (!res.headersSent) {
          res.statusCode = 500;
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ error: { message: 'internal server error' } }));
        } else res.destroy(err as Error);
      },
    );
  };
}

interface DirectCalls {
  type: 'query' | 'mutation';
  isBatch: boolean;
  calls: Array<{ path: string; procedure: AnyTRPCProcedure }>;
  /** The `input` search parameter of a GET. */
  queryInput: string | null;
}

const SIMPLE_PATHS = /^[\w.,-]+$/;
const NO_DATA: unique symbol = Symbol('no input');

/** The procedure path(s) after `base` and the search parameters of a request's URL. */
function target(req: IncomingMessage, base: string): { path: string; params: URLSearchParams } {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return {
    path: (q < 0 ? url : url.slice(0, q)).slice(base.length).replace(/\/+$/, ''),
    params: new URLSearchParams(q < 0 ? '' : url.slice(q + 1)),
  };
}

/**
 * What both direct ways ask first of a request: a plain path of procedure names, no
 * connectionParams and no trpc-accept (tRPC's streaming forms); with its content type's media type.
 */
function plainRequest(
  req: IncomingMessage,
  base: string,
): { path: string; params: URLSearchParams; contentType: string | undefined } | undefined {
  const { path, params } = target(req, base);
  if (!SIMPLE_PATHS.test(path)) return undefined;
  if (params.has('connectionParams')) return undefined;
  if (req.headers['trpc-accept'] !== undefined) return undefined;
  return { path, params, contentType: req.headers['content-type']?.toLowerCase().split(';', 1)[0]?.trim() };
}

function procedureAt(router: AnyTRPCRouter, path: string): AnyTRPCProcedure | undefined {
  return (router._def.procedures as Record<string, AnyTRPCProcedure | undefined>)[path];
}

/** The request's calls when this handler answers them itself; undefined: resolveResponse does. */
export function directCalls(
  router: AnyTRPCRouter,
  base: string,
  req: IncomingMessage,
): DirectCalls | undefined {
  const plain = plainRequest(req, base);
  if (!plain) return undefined;
  const { path, params, contentType } = plain;
  const accept = req.headers.accept;
  if (accept?.split(',').some((t) => t.trim() === 'application/jsonl')) return undefined;
  const type = req.method === 'GET' ? 'query' : req.method === 'POST' ? 'mutation' : undefined;
  if (!type) return undefined;
  // tRPC takes a GET as JSON whatever its content type says, unless it is one of its others.
  if (
    type === 'mutation'
      ? contentType !== 'application/json'
      : contentType !== undefined && contentType !== 'application/json'
  )
    return undefined;
  const isBatch = params.get('batch') === '1';
  const calls: DirectCalls['calls'] = [];
  for (const p of isBatch ? path.split(',') : [path]) {
    const procedure = procedureAt(router, p);
    if (!procedure || procedure._def.type !== type) return undefined;
    calls.push({ path: p, procedure });
  }
  return { type, isBatch, calls, queryInput: type === 'query' ? params.get('input') : null };
}

type CallResult = { ok: true; data: unknown } | { ok: false; error: TRPCError };

async function callDirectly<TRouter extends AnyTRPCRouter>(
  opts: TrpcHandlerOptions<TRouter>,
  { type, isBatch, calls, queryInput }: DirectCalls,
  req: IncomingMessage,
  res: ServerResponse,
  maxBody: number,
): Promise<void> {
  const trace = requestTraces.get(req);
  let body: string | null = queryInput;
  // Too big a body fails every call of the request (413), before any procedure runs.
  let bodyError: TRPCError | undefined;
  if (type === 'mutation')
    body = await bodyOf(req, res, maxBody).catch((e: unknown) => {
      if (!(e instanceof TRPCError)) throw e;
      bodyError = e;
      return null;
    });
  trace?.mark('read');
  // Parsed when a procedure first asks for its input, as tRPC does: an unparsable body is
  // that procedure's BAD_REQUEST.
  let inputs: Record<number, unknown> | undefined;
  const inputOf = (index: number): unknown => {
    if (!inputs) {
      const parsed: unknown = body ? parseJson(body) : NO_DATA;
      const all: Record<number, unknown> = {};
      const transformer = opts.router._def._config.transformer;
      if (parsed === NO_DATA) {
        // no input at all
      } else if (!isBatch) all[0] = transformer.input.deserialize(parsed);
      else if (!isObject(parsed))
        throw new TRPCError({
          code: 'BAD_REQUEST',
          message: '"input" needs to be an object when doing a batch call',
        });
      else
        for (const i of calls.keys()) {
          const one = parsed[i];
          if (one !== undefined) all[i] = transformer.input.deserialize(one);
        }
      inputs = all;
    }
    return inputs[index];
  };
  // What a failed call reports as its input: the parsed one, if the parse got that far.
  const inputSeen = (index: number) => inputs?.[index];

  const { ctx, ctxError } = await contextOf(opts);
  // Aborted when the client leaves before its reply, like the signal of tRPC's Request.
  const abort = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) abort.abort();
  };
  res.once('close', onClose);

  const results = await Promise.all(
    calls.map(async ({ path, procedure }, batchIndex): Promise<CallResult> => {
      try {
        if (bodyError) throw bodyError;
        if (ctxError) throw ctxError;
        const data: unknown = await procedure({
          path,
          getRawInput: async () => inputOf(batchIndex),
          ctx,
          type,
          signal: abort.signal,
          batchIndex,
        });
        if (isBatch && isDataStream(data))
          return {
            ok: false,
            error: new TRPCError({
              code: 'UNSUPPORTED_MEDIA_TYPE',
              message: 'Cannot use stream-like response in non-streaming request - use httpBatchStreamLink',
            }),
          };
        return { ok: true, data };
      } catch (cause) {
        const error = getTRPCErrorFromUnknown(cause);
        opts.onError?.({ error, path, input: inputSeen(batchIndex), ctx, type, req });
        return { ok: false, error };
      }
    }),
  );
  trace?.mark('call');
  const config = opts.router._def._config;
  const shape = (r: CallResult, i: number) =>
    r.ok
      ? { result: { data: r.data } }
      : {
          error: getTRPCErrorShape({
            config,
            ctx,
            error: r.error,
            input: inputSeen(i),
            path: calls[i]!.path,
            type,
          }),
        };
  let json: unknown;
  let status: number;
  const first = results[0]!;
  if (!isBatch && first.ok && isDataStream(first.data)) {
    // A single call's stream-like result is a request-level error in tRPC (no path, and told
    // to onError), not the call's.
    const error = new TRPCError({
      code: 'UNSUPPORTED_MEDIA_TYPE',
      message: 'Cannot use stream-like response in non-streaming request - use httpBatchStreamLink',
    });
    opts.onError?.({ error, path: undefined, input: undefined, ctx, type, req });
    json = { error: getTRPCErrorShape({ config, ctx, error, input: undefined, path: undefined, type }) };
    status = getHTTPStatusCode(json as Parameters<typeof getHTTPStatusCode>[0], [error]);
  } else {
    const shaped = results.map(shape);
    const errors = results.map((r) => (r.ok ? undefined : r.error));
    status = getHTTPStatusCode(shaped as Parameters<typeof getHTTPStatusCode>[0], errors);
    json = isBatch ? shaped : shaped[0];
  }
  const text = JSON.stringify(
    transformTRPCResponse(config, json as Parameters<typeof transformTRPCResponse>[1]),
  );
  res.off('close', onClose);
  res.writeHead(status, {
    vary: 'trpc-accept, accept',
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
  trace?.mark('reply');
}

/** Through tRPC's resolveResponse (WHATWG Request and Response), for the rare requests. */
async function answer<TRouter extends AnyTRPCRouter>(
  opts: TrpcHandlerOptions<TRouter>,
  base: string,
  req: IncomingMessage,
  res: ServerResponse,
  maxBody: number,
): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://berthd').pathname.slice(base.length).replace(/\/+$/, '');
  let error: TRPCError | null = null;
  if (req.method !== 'GET' && req.method !== 'HEAD')
    (req as IncomingMessage & { body?: string }).body = await bodyOf(req, res, maxBody).catch(
      (e: unknown) => {
        if (!(e instanceof TRPCError)) throw e;
        error = e;
        return '';
      },
    );
  const request = incomingMessageToRequest(req, res, { maxBodySize: null });
  const response = await resolveResponse<TRouter>({
    router: opts.router,
    req: request,
    path,
    error,
    createContext: async () => opts.createContext(),
    onError: (o) => opts.onError?.({ ...o, req }),
  });
  const body = Buffer.from(await response.arrayBuffer());
  res.statusCode = response.status;
  for (const [key, value] of response.headers) res.setHeader(key, value);
  res.end(body);
}

/**
 * The request's body as one string; more than `max` bytes: PAYLOAD_TOO_LARGE (its message
 * naming the bound), the rest left unread and the connection closed after the reply.
 */
function bodyOf(req: IncomingMessage, res: ServerResponse, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const tooBig = () => {
      req.off('data', onData);
      req.pause();
      res.setHeader('connection', 'close');
      reject(
        new TRPCError({
          code: 'PAYLOAD_TOO_LARGE',
          message: `the request body is larger than ${max} bytes, the most berthd reads`,
        }),
      );
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > max) tooBig();
      else chunks.push(c);
    };
    if (Number(req.headers['content-length']) > max) {
      tooBig();
      return;
    }
    req.on('data', onData);
    req.once('end', () =>
      resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')),
    );
    req.once('error', reject);
  });
}

/** A request's JSON input as tRPC reads it: unparsable, it is the call's BAD_REQUEST. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new TRPCError({
      code: 'BAD_REQUEST',
      message: cause instanceof Error ? cause.message : 'Invalid input',
      cause,
    });
  }
}

/** The request's context, or the error every call of the request then fails with. */
async function contextOf<TRouter extends AnyTRPCRouter>(
  opts: TrpcHandlerOptions<TRouter>,
): Promise<{ ctx?: inferRouterContext<TRouter>; ctxError?: TRPCError }> {
  try {
    return { ctx: await opts.createContext() };
  } catch (cause) {
    return { ctxError: getTRPCErrorFromUnknown(cause) };
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && !Array.isArray(v) && typeof v === 'object';
}

/** tRPC's test for a result only its streaming links can carry (a promise or async iterable in it). */
function isDataStream(v: unknown): boolean {
  if (!isObject(v)) return false;
  if (Symbol.asyncIterator in v) return true;
  const values = Object.values(v);
  return (
    values.some(
      (x) =>
        (isObject(x) || typeof x === 'function') &&
        typeof (x as { then?: unknown }).then === 'function' &&
        typeof (x as { catch?: unknown }).catch === 'function',
    ) || values.some((x) => isObject(x) && Symbol.asyncIterator in x)
  );
}

interface SubscriptionCall {
  path: string;
  procedure: AnyTRPCProcedure;
  input: string | null;
  lastEventId: string | null;
}

/** A subscription asked as server-sent events that this handler streams itself. */
export function subscriptionCall(
  router: AnyTRPCRouter,
  base: string,
  req: IncomingMessage,
): SubscriptionCall | undefined {
  const sse = router._def._config.sse;
  if (req.method !== 'GET' || sse?.enabled === false || sse?.maxDurationMs || sse?.emitAndEndImmediately)
    return undefined;
  const plain = plainRequest(req, base);
  if (!plain) return undefined;
  const { path, params, contentType } = plain;
  if (path.includes(',') || params.get('batch') === '1') return undefined;
  if (contentType !== undefined && contentType !== 'application/json') return undefined;
  const procedure = procedureAt(router, path);
  if (procedure?._def.type !== 'subscription') return undefined;
  const header = req.headers['last-event-id'];
  const lastEventId =
    (Array.isArray(header) ? header.join(', ') : header) ??
    params.get('lastEventId') ??
    params.get('Last-Event-Id');
  return { path, procedure, input: params.get('input'), lastEventId };
}

const SSE_HEADERS = {
  vary: 'trpc-accept, accept',
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
  connection: 'keep-alive',
};

/** One SSE message as tRPC's producer writes it (its fields in this order, then "\n\n"). */
function sseMessage(m: { event?: string; data: string; id?: string }): string {
  return `${m.event !== undefined ? `event: ${m.event}\n` : ''}data: ${m.data}\n${m.id !== undefined ? `id: ${m.id}\n` : ''}\n\n`;
}

async function stream<TRouter extends AnyTRPCRouter>(
  opts: TrpcHandlerOptions<TRouter>,
  { path, procedure, input, lastEventId }: SubscriptionCall,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const config = opts.router._def._config;
  const type = 'subscription';
  // Its input as tRPC's JSON handler reads a GET's, the client's last event id added.
  let parsed: { raw: unknown; input: unknown } | undefined;
  const inputOf = (): unknown => {
    if (!parsed) {
      const raw = input ? config.transformer.input.deserialize(parseJson(input)) : undefined;
      const withId = !lastEventId ? raw : isObject(raw) ? { ...raw, lastEventId } : (raw ?? { lastEventId });
      parsed = { raw, input: withId };
    }
    return parsed.input;
  };
  const { ctx, ctxError } = await contextOf(opts);
  // The client going away ends the subscription (its procedure sees the signal).
  const abort = new AbortController();
  const onClose = () => abort.abort();
  // Resolves when the client has gone: a procedure that does not watch its signal is left.
  const gone = new Promise<'gone'>((resolve) =>
    abort.signal.addEventListener('abort', () => resolve('gone'), { once: true }),
  );
  res.once('close', onClose);
  const report = (error: TRPCError) => opts.onError?.({ error, path, input: parsed?.raw, ctx, type, req });

  let values: AsyncIterable<unknown> | undefined;
  let failure: unknown;
  try {
    if (ctxError) throw ctxError;
    const data: unknown = await procedure({
      path,
      getRawInput: async () => inputOf(),
      ctx,
      type,
      signal: abort.signal,
      batchIndex: 0,
    });
    if (isObservable(data)) values = observableToAsyncIterable(data, abort.signal);
    else if (isObject(data) && Symbol.asyncIterator in data) values = data as AsyncIterable<unknown>;
    else
      failure = new TRPCError({
        message: `Subscription ${path} did not return an observable or a AsyncGenerator`,
        code: 'INTERNAL_SERVER_ERROR',
      });
  } catch (cause) {
    failure = cause;
    // tRPC tells onError of a failed call twice: as the call's error, then as the stream's.
    report(getTRPCErrorFromUnknown(cause));
  }

  res.writeHead(200, SSE_HEADERS);
  // Messages written in one run of microtasks (the events of one commit) go out in one write.
  let corked = false;
  const uncork = () => {
    corked = false;
    res.uncork();
  };
  const send = async (text: string) => {
    if (res.destroyed || res.writableEnded) return;
    if (!corked) {
      corked = true;
      res.cork();
      process.nextTick(uncork);
    }
    if (!res.write(text))
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.once('drain', done);
        res.once('close', done);
      });
  };
  await send(sseMessage({ event: 'connected', data: JSON.stringify(config.sse?.client ?? {}) }));
  const serialize = (v: unknown) => JSON.stringify(config.transformer.output.serialize(v));
  const iterator = values?.[Symbol.asyncIterator]();
  let finished = false;
  try {
    if (!iterator) throw failure;
    const ping = config.sse?.ping;
    const pingMs = ping?.enabled ? (ping.intervalMs ?? 1000) : 0;
    let lastId = lastEventId && !/[\0\n\r]/.test(lastEventId) ? lastEventId : null;
    for (;;) {
      const next = iterator.next();
      let result: IteratorResult<unknown> | 'gone';
      if (pingMs > 0 && pingMs !== Number.POSITIVE_INFINITY) {
        // A ping after each pingMs without a value, as tRPC's withPing.
        for (;;) {
          let timer: NodeJS.Timeout | undefined;
          const pinged = new Promise<'ping'>((resolve) => {
            timer = setTimeout(() => resolve('ping'), pingMs);
          });
          const r = await Promise.race([next, pinged, gone]);
          clearTimeout(timer);
          if (r !== 'ping') {
            result = r;
            break;
          }
          await send(sseMessage({ event: 'ping', data: '' }));
        }
      } else result = await Promise.race([next, gone]);
      if (result === 'gone') break;
      if (result.done) {
        finished = true;
        break;
      }
      const value = result.value;
      if (isTrackedEnvelope(value)) {
        const since = traceClock();
        lastId = value[0];
        await send(sseMessage({ data: serialize(value[1]), id: value[0] }));
        // BERTH_TRACE: a tracked value's time here, and when it came (the monotonic clock, in
        // ms, which the client's shares: bench/agent.ts times the rest of its way).
        if (since) startTrace('sse', `${value[0]}@${(Number(since) / 1e6).toFixed(3)}`, since).end();
      } else if (lastId === null) await send(sseMessage({ data: serialize(value) }));
      else
        await send(
          sseMessage({ data: serialize(value), id: '' }) +
            sseMessage({ event: 'restore-id', data: '', id: lastId }),
        );
    }
    await send(sseMessage({ event: 'return', data: '' }));
  } catch (cause) {
    finished = true;
    if (!(isObject(cause) && cause.name === 'AbortError')) {
      const error = getTRPCErrorFromUnknown(cause);
      report(error);
      const shape = getTRPCErrorShape({ config, ctx, error, input: parsed?.raw, path, type });
      await send(sseMessage({ event: 'serialized-error', data: serialize(shape) }));
    }
  } finally {
    res.off('close', onClose);
    // A subscription the client left: its generator's finally blocks run now.
    if (!finished) void iterator?.return?.()?.catch(() => {});
    if (!res.writableEnded) res.end();
  }
}
