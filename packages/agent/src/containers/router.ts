import {
  Actor,
  ContainerConfig,
  ContainerInfo,
  ContainerName,
  ContainerRef,
  type ExecOutput,
  ExecRequest,
  FilePullRequest,
  FilePullResult,
  FilePushRequest,
  Limits,
  LogsRequest,
  ResourceName,
} from '@berth/contracts';
import { z } from 'zod';
import { AgentError } from '../errors.ts';
import { mapErrors, serviceProcedure as procedure } from '../procedures.ts';
import { router } from '../trpc.ts';
import { pullPath, pushFile, pushTar } from './files.ts';
import { exec, logs } from './io.ts';
import type { ContainerService } from './service.ts';

// The container API. Thin: validate (zod, strict), then call the service.

function svc(ctx: { containers?: ContainerService }): ContainerService {
  if (!ctx.containers) throw new AgentError('INTERNAL', 'this agent serves no containers');
  return ctx.containers;
}

const Signal = z.union([
  z.number().int().min(1).max(64),
  z.string().regex(/^(SIG)?[A-Z0-9+]{2,12}$/, 'must be a signal name or number'),
]);

export const containerRouter = router({
  // Not validated on the way out (the service builds it from validated records): checking 500
  // configs took longer than the listing itself.
  list: procedure.query(({ ctx }): Promise<ContainerInfo[]> => svc(ctx).list()),
  inspect: procedure
    .input(z.object({ name: ContainerName }).strict())
    .output(ContainerInfo)
    .query(({ ctx, input }) => svc(ctx).inspect(input.name)),
  create: procedure
    .input(z.object({ config: ContainerConfig, start: z.boolean().default(false), actor: Actor }).strict())
    .output(ContainerInfo)
    .mutation(({ ctx, input }) =>
      svc(ctx).create(input.config, input.actor, { start: input.start, validated: true }),
    ),
  start: procedure
    .input(ContainerRef)
    .output(ContainerInfo)
    .mutation(({ ctx, input }) => svc(ctx).start(input.name, input.actor)),
  stop: procedure
    .input(ContainerRef.extend({ timeoutSec: z.number().int().min(0).max(3600).optional() }))
    .output(ContainerInfo)
    .mutation(({ ctx, input }) => svc(ctx).stop(input.name, input.actor, input.timeoutSec)),
  restart: procedure
    .input(ContainerRef)
    .output(ContainerInfo)
    .mutation(({ ctx, input }) => svc(ctx).restart(input.name, input.actor)),
  kill: procedure
    .input(ContainerRef.extend({ signal: Signal.default('SIGKILL') }))
    .mutation(({ ctx, input }) => svc(ctx).kill(input.name, input.signal, input.actor)),
  freeze: procedure
    .input(ContainerRef)
    .output(ContainerInfo)
    .mutation(({ ctx, input }) => svc(ctx).freeze(input.name, input.actor)),
  unfreeze: procedure
    .input(ContainerRef)
    .output(ContainerInfo)
    .mutation(({ ctx, input }) => svc(ctx).unfreeze(input.name, input.actor)),
  delete: procedure
    .input(ContainerRef.extend({ force: z.boolean().default(false) }))
    .mutation(({ ctx, input }) => svc(ctx).delete(input.name, input.actor, input.force)),
  rename: procedure
    .input(ContainerRef.extend({ newName: ContainerName }))
    .output(ContainerInfo)
    .mutation(({ ctx, input }) => svc(ctx).rename(input.name, input.newName, input.actor)),
  limits: procedure
    .input(ContainerRef.extend({ limits: Limits }))
    .output(ContainerInfo)
    .mutation(({ ctx, input }) => svc(ctx).updateLimits(input.name, input.limits, input.actor)),
  logs: procedure.input(LogsRequest).subscription(({ ctx, input, signal }) =>
    mapErrors(
      logs(svc(ctx), input.name, {
        follow: input.follow,
        ...(input.tail !== undefined ? { tail: input.tail } : {}),
        ...(signal ? { signal } : {}),
      }),
    ),
  ),
  exec: procedure.input(ExecRequest).subscription(async function* ({ ctx, input, signal }) {
    for await (const out of mapErrors(exec(svc(ctx), input, signal))) yield out as ExecOutput;
  }),
  push: procedure.input(FilePushRequest).mutation(async ({ ctx, input }) => {
    const s = svc(ctx);
    await s.withContainer(input.name, 'files', async (row) => {
      const root = await s.rootPath(row);
      const ids = s.hostIds(row, input.uid, input.gid);
      const data = Buffer.from(input.dataBase64, 'base64');
      if (input.tar)
        await pushTar(root, input.path, data, {
          mode: 0o755,
          hostIds: (uid, gid) => s.hostIds(row, uid, gid),
        });
      else pushFile(root, input.path, data, { mode: input.mode, ...ids });
      await s.d.events.append('container.file-pushed', {
        actor: input.actor,
        subject: row.name,
        data: { path: input.path, bytes: data.length, tar: input.tar },
      });
    });
  }),
  pull: procedure
    .input(FilePullRequest)
    .output(FilePullResult)
    .query(async ({ ctx, input }) => {
      const s = svc(ctx);
      return s.withContainer(input.name, 'files', async (row) => {
        const base = row.idBase ?? 0;
        const inContainer = (id: number) => (id >= base && id - base < 65_536 ? id - base : 65_534);
        const r = await pullPath(await s.rootPath(row), input.path, (uid, gid) => ({
          uid: inContainer(uid),
          gid: inContainer(gid),
        }));
        return { kind: r.kind, dataBase64: r.data.toString('base64'), mode: r.mode };
      });
    }),
  snapshot: router({
    create: procedure
      .input(ContainerRef.extend({ snapshot: ResourceName }))
      .mutation(({ ctx, input }) => svc(ctx).snapshot(input.name, input.snapshot, input.actor)),
    list: procedure
      .input(z.object({ name: ContainerName }).strict())
      .query(({ ctx, input }) => svc(ctx).snapshots(input.name)),
    restore: procedure
      .input(ContainerRef.extend({ snapshot: ResourceName }))
      .mutation(({ ctx, input }) => svc(ctx).restore(input.name, input.snapshot, input.actor)),
    delete: procedure
      .input(ContainerRef.extend({ snapshot: ResourceName }))
      .mutation(({ ctx, input }) => svc(ctx).deleteSnapshot(input.name, input.snapshot, input.actor)),
  }),
  clone: procedure
    .input(ContainerRef.extend({ newName: ContainerName, snapshot: ResourceName.optional() }))
    .output(ContainerInfo)
    .mutation(({ ctx, input }) => svc(ctx).clone(input.name, input.newName, input.actor, input.snapshot)),
});
