import {
  ImageBuildDebianInput,
  ImageInfo,
  ImageInspectInput,
  ImagePruneInput,
  ImagePruneResult,
  ImagePullInput,
  ImageRemoveInput,
  ImageRemoveResult,
  RegistryLoginInput,
  RegistryLogoutInput,
} from '@berth/contracts';
import { z } from 'zod';
import { serviceProcedure } from '../procedures.ts';
import { router } from '../trpc.ts';

export const imageRouter = router({
  list: serviceProcedure.output(z.array(ImageInfo)).query(({ ctx }) => ctx.images.list()),

  inspect: serviceProcedure
    .input(ImageInspectInput)
    .output(ImageInfo)
    .query(({ ctx, input }) => ctx.images.inspect(input.image)),

  /**
   * Pulls an image, streaming progress (per-layer bytes) and ending with `done`. The pull
   * stops when the caller goes away; pulling again resumes from what was downloaded.
   */
  pull: serviceProcedure
    .input(ImagePullInput)
    .subscription(({ ctx, input, signal }) => ctx.images.pull(input, signal)),

  /** Builds (or finds cached) a Debian image with debootstrap, streaming its phases. */
  buildDebian: serviceProcedure
    .input(ImageBuildDebianInput)
    .subscription(({ ctx, input, signal }) => ctx.images.buildDebian(input, signal)),

  remove: serviceProcedure
    .input(ImageRemoveInput)
    .output(ImageRemoveResult)
    .mutation(({ ctx, input }) => ctx.images.remove(input.image, input.actor)),

  prune: serviceProcedure
    .input(ImagePruneInput)
    .output(ImagePruneResult)
    .mutation(({ ctx, input }) => ctx.images.prune(input.dangling, input.actor)),

  /** Stores credentials for a registry (root-only file); used for basic auth from then on. */
  login: serviceProcedure
    .input(RegistryLoginInput)
    .mutation(({ ctx, input }) => ctx.images.login(input.registry, input.username, input.password)),

  logout: serviceProcedure
    .input(RegistryLogoutInput)
    .mutation(({ ctx, input }) => ctx.images.logout(input.registry)),
});
