import { MetricsHistory, MetricsHistoryInput, MetricsTick, MetricsWatchInput } from '@berth/contracts';
import { serviceProcedure } from '../procedures.ts';
import { router } from '../trpc.ts';

export const metricsRouter = router({
  /** The latest second's values of every target (or of `targets`). */
  current: serviceProcedure
    .input(MetricsWatchInput)
    .output(MetricsTick)
    .query(({ ctx, input }) => ctx.metrics.current(input.targets)),

  /** The values every second, from now until the caller goes away. */
  watch: serviceProcedure
    .input(MetricsWatchInput)
    .subscription(({ ctx, input, signal }) => ctx.metrics.watch(input.targets, signal)),

  /** A series for a chart: 1 s points within the last hour, minute rollups (7 days) beyond. */
  history: serviceProcedure
    .input(MetricsHistoryInput)
    .output(MetricsHistory)
    .query(({ ctx, input }) => ctx.metrics.history(input)),
});
