import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

/**
 * Failed sign-ins are counted per (client address, user name): after `maxFailures` within
 * `windowSeconds` that pair is refused until the window ends, whatever the password. A
 * success clears the count. Per pair rather than per name, so nobody can lock the admin out
 * from elsewhere by failing on purpose.
 */
export class LoginThrottle {
  private readonly limiter: RateLimiterMemory;

  constructor(
    readonly maxFailures = 5,
    readonly windowSeconds = 15 * 60,
  ) {
    this.limiter = new RateLimiterMemory({ points: maxFailures, duration: windowSeconds });
  }

  private key(ip: string, username: string): string {
    return `${ip}|${username.toLowerCase()}`;
  }

  /** Seconds until this pair may try again, or 0 if it may now. */
  async retryAfter(ip: string, username: string): Promise<number> {
    const res = await this.limiter.get(this.key(ip, username));
    if (!res || res.consumedPoints < this.maxFailures) return 0;
    return Math.max(1, Math.ceil(res.msBeforeNext / 1000));
  }

  async failed(ip: string, username: string): Promise<void> {
    try {
      await this.limiter.consume(this.key(ip, username));
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err; // already at the limit: nothing to add
    }
  }

  async succeeded(ip: string, username: string): Promise<void> {
    await this.limiter.delete(this.key(ip, username));
  }
}
