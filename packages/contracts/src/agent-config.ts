import { z } from 'zod';
import { Limits } from './container.ts';

// berthd's own config file (JSON): the policy that decides what callers may ask for at all.
// Whoever calls the API — the CLI, a panel, a compromised panel — gets no more than this.

const absoluteDir = z
  .string()
  .refine((s) => s.startsWith('/'), 'must be an absolute path')
  .refine((s) => !s.split('/').includes('..'), 'must not contain ".."')
  .refine((s) => s !== '/', 'must not be the whole file system');

export const AgentPolicy = z
  .object({
    /** Host directories (and everything below them) that containers may bind-mount. */
    bindMountAllowlist: z.array(absoluteDir).default([]),
    /** Whether privileged containers (no user namespace, all capabilities) may be created. */
    allowPrivileged: z.boolean().default(false),
    /** Whether containers may share the host's network namespace. */
    allowHostNetwork: z.boolean().default(false),
    /** Bridge networking: the default network, Berth's nftables table, host veth prefix. */
    network: z
      .object({
        /** Subnet of the default network (berth0), created on first use. */
        subnet: z
          .string()
          .regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'must be an IPv4 prefix like 10.87.0.0/16')
          .default('10.87.0.0/16'),
        /** Linux bridge of the default network (at most 15 characters). */
        bridge: z
          .string()
          .regex(/^[a-z][a-z0-9_-]{0,14}$/, 'must be an interface name of at most 15 characters')
          .default('berth0'),
        /** Name of Berth's nftables tables. */
        table: z
          .string()
          .regex(/^[A-Za-z_][A-Za-z0-9_]{0,31}$/, 'must be an nftables table name')
          .default('berth'),
        /** Prefix of host-side veth names (2-4 characters). */
        hostIfPrefix: z
          .string()
          .regex(/^[a-z][a-z0-9]{1,3}$/, 'must be 2-4 lower-case letters or digits')
          .default('vb'),
        /** "global": net.ipv4.ip_forward while a network exists; "bridges": only on Berth's bridges. */
        forwarding: z.enum(['global', 'bridges']).default('global'),
        /** Packet filter: "auto" uses nft, else iptables (NAT and forwards; no anti-spoofing). */
        firewall: z.enum(['auto', 'nft', 'iptables']).default('auto'),
      })
      .strict()
      .prefault({}),
    /** Ceilings on what one container or group may be given. */
    maxLimits: Limits.default({}),
    /** Seconds between the stop signal and killing everything, unless the container says. */
    stopTimeoutSec: z.number().int().min(0).max(3600).default(10),
    /** Events kept in the database (the oldest are dropped beyond this). */
    eventHistory: z.number().int().min(100).max(10_000_000).default(100_000),
    /** Parent cgroup of everything berthd creates. */
    cgroupParent: z
      .string()
      .regex(/^\/[A-Za-z0-9_.\-/]*$/, 'must be an absolute cgroup path')
      .refine((s) => !s.split('/').includes('..'), 'must not contain ".."')
      .default('/berth'),
    /** First host id of the user-namespace ranges handed to containers (65536 ids each). */
    idRangeBase: z
      .number()
      .int()
      .min(65_536)
      .max(2 ** 31)
      .default(1_000_000_000),
    /** Shell sessions (berth shell): how long one lives on with no client attached, in
     * seconds (0: until it exits or is killed), and how much of its output it keeps to
     * replay to a client that attaches. */
    shellIdleTimeoutSec: z
      .number()
      .int()
      .min(0)
      .max(365 * 86_400)
      .default(86_400),
    shellScrollbackBytes: z
      .number()
      .int()
      .min(4096)
      .max(16 << 20)
      .default(256 << 10),
  })
  .strict();
export type AgentPolicy = z.infer<typeof AgentPolicy>;
