// What the networking layer remembers, and the seam through which it is persisted. The agent
// implements NetStateStore on its database; FileNetStateStore (atomic rename) and
// MemoryNetStateStore serve tests and a standalone runtime. Every change is written through
// the store *before* the kernel is touched, so a crash leaves a record of everything that may
// exist (an address is never handed out twice: a lease is durable before it is used).
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

export type Protocol = 'tcp' | 'udp';

export interface PortForward {
  protocol: Protocol;
  /** Host address the port is published on; "0.0.0.0" means every host address. */
  hostAddress: string;
  hostPort: number;
  containerPort: number;
}

export interface RateLimit {
  /** Bits per second; container egress (packets leaving the container). */
  egressBps?: number;
  /** Bits per second; container ingress. */
  ingressBps?: number;
}

export interface NetworkRecord {
  name: string;
  bridge: string;
  /** e.g. "10.87.0.0/16" */
  subnet: string;
  gateway: string;
  subnet6?: string;
  gateway6?: string;
  mtu: number;
  /** Containers see only the gateway (bridge port isolation), not each other. */
  isolated: boolean;
  /** DNS domain answered by the network's responder (names resolve as NAME and NAME.domain). */
  domain: string;
  /** IPAM: the host offset handed out last (decimal), where the next search starts. */
  ipamCursor: string;
  createdAt: string;
}

export interface EndpointRecord {
  containerId: string;
  network: string;
  /** Host side of the veth pair. */
  hostIf: string;
  ip: string;
  ip6?: string;
  mac: string;
  hostname: string;
  aliases: string[];
  ports: PortForward[];
  rateLimit?: RateLimit;
  createdAt: string;
}

export interface NetState {
  version: 1;
  networks: Record<string, NetworkRecord>;
  /** Keyed by container id: one endpoint (eth0) per container. */
  endpoints: Record<string, EndpointRecord>;
  /** The host's sysctl values before Berth changed them, restored when the last network goes. */
  savedSysctls?: Record<string, string>;
}

export const emptyState = (): NetState => ({ version: 1, networks: {}, endpoints: {} });

export interface NetStateStore {
  read(): Promise<NetState>;
  /** Must be atomic and durable: after it resolves a crash never shows an older state, and a
   * crash during it shows either the old state or the new one whole. */
  write(state: NetState): Promise<void>;
}

export class MemoryNetStateStore implements NetStateStore {
  private state: string = JSON.stringify(emptyState());
  async read(): Promise<NetState> {
    return JSON.parse(this.state) as NetState;
  }
  async write(state: NetState): Promise<void> {
    this.state = JSON.stringify(state);
  }
}

/** JSON file, replaced atomically: write a temp file in the same directory, fsync, rename,
 * fsync the directory. */
export class FileNetStateStore implements NetStateStore {
  constructor(readonly path: string) {}

  async read(): Promise<NetState> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
      throw e;
    }
    const state = JSON.parse(text) as NetState;
    if (state.version !== 1) throw new Error(`${this.path}: unknown state version ${String(state.version)}`);
    return state;
  }

  async write(state: NetState): Promise<void> {
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(`${JSON.stringify(state, null, 2)}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
}
