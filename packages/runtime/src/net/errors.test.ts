import { ErrorCode } from '@berth/contracts';
import { describe, expect, it } from 'vitest';
import { NET_ERROR_CODES, NetError } from './errors.ts';

describe('NetError', () => {
  it("maps every code onto one of the contracts' error codes", () => {
    for (const code of Object.values(NET_ERROR_CODES)) expect(ErrorCode.options).toContain(code);
    expect(new NetError('invalid_argument', 'subnet: bad', 'subnet').errorCode).toBe('INVALID_INPUT');
    expect(new NetError('exhausted', 'no address left').errorCode).toBe('CONFLICT');
    expect(new NetError('kernel', 'ip: failed').errorCode).toBe('INTERNAL');
  });
});
