import { z } from 'zod';

// Bridge networks managed by the agent: the default one (berth0) and those users create, and
// how a container appears on one. The names and checks match @berth/runtime/net's own, so a
// request the contracts accept is never refused later for its shape.

/** Modes that are not network names. */
export const RESERVED_NETWORK_NAMES = ['none', 'bridge', 'host', 'default'] as const;

/** A network's name: lower-case letters, digits, "_", "." and "-", at most 63 (it may be a DNS domain part). */
export const NetworkName = z
  .string()
  .min(1, 'must not be empty')
  .max(63, 'must be at most 63 characters')
  .regex(
    /^[a-z0-9][a-z0-9_.-]*$/,
    'use lower-case letters, digits, "_", "." and "-", starting with a letter or digit',
  )
  .refine(
    (s) => !(RESERVED_NETWORK_NAMES as readonly string[]).includes(s),
    'is reserved (none, bridge, host, default)',
  )
  .refine((s) => !s.includes('..'), 'must not contain ".."');

const octets = (s: string): number[] => s.split('.').map(Number);

/** An IPv4 prefix with no host bits, /8../30: `10.88.0.0/24`. */
export const Ipv4Subnet = z
  .string()
  .regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'must be an IPv4 prefix like 10.88.0.0/24')
  .refine((s) => octets(s.split('/')[0]!).every((o) => o <= 255), 'has an octet above 255')
  .refine((s) => {
    const len = Number(s.split('/')[1]);
    return len >= 8 && len <= 30;
  }, 'must be /8 to /30')
  .refine((s) => {
    const [addr, len] = s.split('/') as [string, string];
    const n = octets(addr).reduce((a, o) => a * 256 + o, 0);
    return n % 2 ** (32 - Number(len)) === 0;
  }, 'has host bits set (use the network address)');

/** An IPv6 prefix (/48../120), validated in full by the agent. */
export const Ipv6Subnet = z
  .string()
  .regex(/^[0-9a-fA-F:]+\/\d{1,3}$/, 'must be an IPv6 prefix like fd00:87::/64')
  .refine((s) => {
    const len = Number(s.split('/')[1]);
    return len >= 48 && len <= 120;
  }, 'must be /48 to /120');

export const NetworkCreate = z
  .object({
    name: NetworkName,
    subnet: Ipv4Subnet,
    /** IPv6 too: a prefix, or "auto" for a random ULA /64. */
    subnet6: z.union([z.literal('auto'), Ipv6Subnet]).optional(),
    /** Containers see only the gateway (and its DNS), not each other. */
    isolated: z.boolean().default(false),
    /** Default: the MTU of the host's uplink. */
    mtu: z.number().int('must be a whole number').min(576, 'must be at least 576').max(65_535).optional(),
    actor: z.string().min(1).max(200).default('unknown'),
  })
  .strict();
export type NetworkCreate = z.input<typeof NetworkCreate>;

export const NetworkRemove = z
  .object({
    name: NetworkName,
    /** Detach the containers still on it first (they keep running without a network). */
    force: z.boolean().default(false),
    actor: z.string().min(1).max(200).default('unknown'),
  })
  .strict();

export const NetworkEndpointInfo = z.object({
  containerId: z.string(),
  /** The container's name, when the agent still has it. */
  container: z.string().nullable(),
  ip: z.string(),
  ip6: z.string().optional(),
  mac: z.string(),
});
export type NetworkEndpointInfo = z.infer<typeof NetworkEndpointInfo>;

export const NetworkInfo = z.object({
  name: z.string(),
  /** The agent's default network (what `--network bridge` means). */
  default: z.boolean(),
  bridge: z.string(),
  subnet: z.string(),
  gateway: z.string(),
  subnet6: z.string().optional(),
  gateway6: z.string().optional(),
  mtu: z.number().int(),
  isolated: z.boolean(),
  /** Names answer as NAME and NAME.<domain> on the network's DNS. */
  domain: z.string(),
  createdAt: z.string(),
  containers: z.array(NetworkEndpointInfo),
  /** The default network before its first use: listed as it will be, its bridge not made yet. */
  pending: z.boolean().optional(),
});
export type NetworkInfo = z.infer<typeof NetworkInfo>;

/** Per-container rate limits, bits per second (at least 8000). */
export const RateLimit = z
  .object({
    /** What the container receives. */
    ingressBps: z.number().int('must be a whole number').min(8000, 'must be at least 8000 bit/s').optional(),
    /** What the container sends. */
    egressBps: z.number().int('must be a whole number').min(8000, 'must be at least 8000 bit/s').optional(),
  })
  .strict();
export type RateLimit = z.infer<typeof RateLimit>;

/** A running container on a bridge network, as inspect and ls show it. */
export const ContainerNetworkInfo = z.object({
  network: z.string(),
  ip: z.string(),
  ip6: z.string().optional(),
  mac: z.string(),
  gateway: z.string(),
  gateway6: z.string().optional(),
  ports: z.array(
    z.object({
      protocol: z.enum(['tcp', 'udp']),
      hostAddress: z.string(),
      hostPort: z.number().int(),
      containerPort: z.number().int(),
    }),
  ),
  rateLimit: RateLimit.optional(),
});
export type ContainerNetworkInfo = z.infer<typeof ContainerNetworkInfo>;

/** `10M`, `1.5G`, `800k` (bits per second, SI) or a plain number → bits per second. */
export function parseRate(spec: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgG]?)(?:bit|bps|b)?(?:\/s)?$/.exec(spec.trim());
  if (!m) throw new Error(`invalid rate "${spec}": use bits per second like 800k, 10M or 1G`);
  const mult = { '': 1, k: 1e3, m: 1e6, g: 1e9 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.round(Number(m[1]) * mult);
}
