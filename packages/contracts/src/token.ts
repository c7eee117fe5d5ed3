import { z } from 'zod';

// Bearer tokens for berthd's TCP listener (remote panels). Created and revoked on the host
// with `berthd token create|ls|revoke`; only a hash is stored, the token is shown once.

export const TokenName = z
  .string()
  .min(1, 'must not be empty')
  .max(100, 'must be at most 100 characters')
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_.@-]*$/,
    'use letters, digits, "_", ".", "@" and "-", starting with a letter or digit',
  );

export const TokenInfo = z.object({
  id: z.string(),
  name: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
});
export type TokenInfo = z.infer<typeof TokenInfo>;

/** Tokens start with this, so a leaked one is recognisable (secret scanners, logs). */
export const TOKEN_PREFIX = 'berth_';
