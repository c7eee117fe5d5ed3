import { chownSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { AgentPolicy, PublishedPort } from '@berth/contracts';
import {
  type ContainerNetFiles,
  type Endpoint,
  FileNetStateStore,
  NetError,
  NetworkManager,
} from '@berth/runtime/net';
import { AgentError } from '../errors.ts';
import { resolveInRoot } from './files.ts';

// Bridge networking for berthd: @berth/runtime/net's NetworkManager, opened on first use (or
// at agent start when a network state exists, which rebuilds Berth's nftables tables, bridges
// and DNS responders from it). The state lives in <stateDir>/network.json through the library's
// FileNetStateStore (temp file + fsync + rename): the manager reads and writes its whole state
// at once, which a file does atomically; berthd is its only writer. Leases of containers the
// DB no longer has are pruned at start.

export interface AttachRequest {
  containerId: string;
  pid: number;
  hostname: string;
  aliases: string[];
  ports: PublishedPort[];
}

export class ContainerNetworks {
  private manager?: Promise<NetworkManager>;

  constructor(
    private readonly policy: AgentPolicy['network'],
    private readonly stateDir: string,
  ) {}

  private get stateFile(): string {
    return join(this.stateDir, 'network.json');
  }

  /** Whether a network state exists (then the manager is opened at start to restore it). */
  hasState(): boolean {
    return existsSync(this.stateFile);
  }

  private open(): Promise<NetworkManager> {
    this.manager ??= NetworkManager.open({
      store: new FileNetStateStore(this.stateFile),
      table: this.policy.table,
      hostIfPrefix: this.policy.hostIfPrefix,
      forwarding: this.policy.forwarding,
      defaultNetwork: { name: this.policy.bridge, bridge: this.policy.bridge, subnet: this.policy.subnet },
    }).catch((e: unknown) => {
      this.manager = undefined;
      throw toAgentError(e);
    });
    return this.manager;
  }

  /** At agent start: restore the host from the state; drop leases of containers that are gone. */
  async restore(exists: (containerId: string) => boolean): Promise<string[]> {
    if (!this.hasState()) return [];
    const m = await this.open();
    return m.prune(exists);
  }

  /** Attaches a created container (its init's netns) to the default network. */
  async attach(req: AttachRequest): Promise<Endpoint> {
    const m = await this.open();
    try {
      const net = await m.ensureDefaultNetwork();
      await m.detach(req.containerId);
      return await m.attach({
        containerId: req.containerId,
        network: net.name,
        netns: { path: `/proc/${req.pid}/ns/net` },
        hostname: req.hostname,
        aliases: req.aliases,
        ports: req.ports,
      });
    } catch (e) {
      throw toAgentError(e);
    }
  }

  /** Releases the container's veth, firewall elements and lease. Idempotent. */
  async detach(containerId: string): Promise<void> {
    if (!this.manager && !this.hasState()) return;
    const m = await this.open();
    await m.detach(containerId);
  }

  async close(): Promise<void> {
    const m = await this.manager?.catch(() => undefined);
    await m?.close();
  }
}

/** /etc/resolv.conf, /etc/hosts and /etc/hostname into the container's root (owned by its root). */
export function writeNetFiles(rootfs: string, files: ContainerNetFiles, uid: number, gid: number): void {
  for (const [path, text] of [
    ['/etc/resolv.conf', files.resolvConf],
    ['/etc/hosts', files.hosts],
    ['/etc/hostname', files.hostname],
  ] as const) {
    const host = resolveInRoot(rootfs, path);
    if (!host.startsWith(`${rootfs}/`)) throw new AgentError('INTERNAL', `${path}: outside the root`);
    mkdirSync(dirname(host), { recursive: true, mode: 0o755 });
    // A symlink the image shipped (resolv.conf → ../run/...) is replaced, never followed.
    rmSync(host, { force: true });
    writeFileSync(host, text, { mode: 0o644, flag: 'wx' });
    chownSync(host, uid, gid);
  }
}

function toAgentError(e: unknown): Error {
  if (e instanceof NetError) {
    const code =
      e.code === 'invalid_argument'
        ? 'INVALID_INPUT'
        : e.code === 'not_found'
          ? 'NOT_FOUND'
          : e.code === 'conflict' || e.code === 'already_exists' || e.code === 'port_in_use'
            ? 'CONFLICT'
            : 'INTERNAL';
    return new AgentError(code, `network: ${e.message}`);
  }
  return e as Error;
}
