// What callers may ask for, checked before anything changes. Bad input is refused with the
// field at fault named.
import { z } from 'zod';
import { isValidAddress, parsePrefix } from './addr.ts';
import { invalid } from './errors.ts';

/** Linux interface names: at most 15 bytes (IFNAMSIZ 16), no slash, colon or blank. */
export const ifname = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/, 'must be 1-15 letters, digits, "_", "." or "-" (IFNAMSIZ)');

const prefix = (family: 4 | 6) =>
  z.string().refine(
    (s) => {
      try {
        return parsePrefix(s).family === family;
      } catch {
        return false;
      }
    },
    {
      message: `must be an IPv${family} prefix with no host bits set, like ${family === 4 ? '10.87.0.0/16' : 'fd00:1::/64'}`,
    },
  );

const dnsLabel = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export const networkSpec = z.object({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'must be lower-case letters, digits, "_", "." or "-", at most 63'),
  bridge: ifname.optional(),
  subnet: prefix(4).optional(),
  gateway: z
    .string()
    .refine((s) => isValidAddress(s, 4), 'must be an IPv4 address')
    .optional(),
  /** An IPv6 prefix, or "auto" for a random ULA /64. */
  subnet6: z.union([z.literal('auto'), prefix(6)]).optional(),
  mtu: z.number().int().min(576).max(65535).optional(),
  isolated: z.boolean().optional(),
  domain: z
    .string()
    .refine((s) => s.split('.').every((l) => dnsLabel.test(l)), 'must be a DNS domain like berth.internal')
    .optional(),
});
export type NetworkSpec = z.input<typeof networkSpec>;

export const portForward = z.object({
  protocol: z.enum(['tcp', 'udp']).default('tcp'),
  hostAddress: z
    .string()
    .refine((s) => isValidAddress(s), 'must be an IP address (0.0.0.0 for all)')
    .default('0.0.0.0'),
  hostPort: z.number().int().min(1).max(65535),
  containerPort: z.number().int().min(1).max(65535),
});
export type PortForwardSpec = z.input<typeof portForward>;

const netns = z.union([
  z.object({ pid: z.number().int().positive() }),
  z.object({ path: z.string().startsWith('/', 'must be an absolute path') }),
]);

export const attachSpec = z.object({
  containerId: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'must be 1-128 letters, digits, "_", "." or "-"'),
  network: z.string().min(1),
  netns,
  hostname: z.string().regex(dnsLabel, 'must be a DNS label (lower-case letters, digits, "-", at most 63)'),
  aliases: z.array(z.string().regex(dnsLabel, 'must be a DNS label')).max(16).default([]),
  /** A fixed address inside the network's subnet (otherwise IPAM picks one). */
  ip: z
    .string()
    .refine((s) => isValidAddress(s, 4), 'must be an IPv4 address')
    .optional(),
  ports: z.array(portForward).max(256).default([]),
  rateLimit: z
    .object({
      egressBps: z.number().int().min(8000).optional(),
      ingressBps: z.number().int().min(8000).optional(),
    })
    .optional(),
});
export type AttachSpec = z.input<typeof attachSpec>;

export function parse<T extends z.ZodType>(schema: T, input: unknown, what: string): z.output<T> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = issue.path.length ? issue.path.map(String).join('.') : what;
  throw invalid(field, issue.message);
}
