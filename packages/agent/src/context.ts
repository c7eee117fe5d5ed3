import type {
  HostFacts,
  ImageBuildDebianInput,
  ImageInfo,
  ImageProgressEvent,
  ImagePruneResult,
  ImageRemoveResult,
  MetricsHistory,
  MetricsTick,
} from '@berth/contracts';
import type { z } from 'zod';
import type { ShellSessions } from './attach/shells.ts';
import type { ContainerService } from './containers/service.ts';
import type { EventLog } from './events/log.ts';
import type { GroupService } from './groups/service.ts';
import type { NetworkService } from './networks/service.ts';
import type { VolumeService } from './volumes/service.ts';

// What procedures may use, injected by the server (and by tests). Types only: the client's
// AgentRouter type reaches this file, so it must not pull in the database or the runtime.

export interface HostService {
  facts(): Promise<HostFacts>;
}

export type ImageBuildDebianRequest = z.output<typeof ImageBuildDebianInput>;

/** What the image procedures call (implemented by images/service.ts). */
export interface ImagesApi {
  list(): Promise<ImageInfo[]>;
  inspect(image: string): Promise<ImageInfo>;
  pull(
    input: { reference: string; platform?: string; actor: string },
    signal?: AbortSignal,
  ): AsyncIterable<ImageProgressEvent>;
  buildDebian(input: ImageBuildDebianRequest, signal?: AbortSignal): AsyncIterable<ImageProgressEvent>;
  remove(image: string, actor: string): Promise<ImageRemoveResult>;
  prune(dangling: boolean, actor: string): Promise<ImagePruneResult>;
  login(registry: string, username: string, password: string): Promise<void>;
  logout(registry: string): Promise<void>;
}

/** What the metrics procedures call (implemented by metrics/service.ts). */
export interface MetricsApi {
  current(targets?: string[]): MetricsTick;
  watch(targets: string[] | undefined, signal?: AbortSignal): AsyncIterable<MetricsTick>;
  history(input: { target: string; from?: number; to?: number; stepSec: number }): Promise<MetricsHistory>;
}

export interface AgentContext {
  host: HostService;
  images: ImagesApi;
  metrics: MetricsApi;
  /** Present in berthd; tests of the host API alone may leave them out. */
  containers?: ContainerService;
  groups?: GroupService;
  volumes?: VolumeService;
  networks?: NetworkService;
  events?: EventLog;
  /** Shell sessions (berth shell), present in berthd. */
  shells?: ShellSessions;
}
