import { expect, it } from 'vitest';
import { ErrorCode, errorSentence } from './errors.ts';

it('says agent unreachable with the socket path, in the exact words the panel and CLI show', () => {
  expect(errorSentence('AGENT_UNREACHABLE', { socketPath: '/run/berth/berthd.sock' })).toBe(
    'agent unreachable at /run/berth/berthd.sock',
  );
});

it('has a sentence for every code', () => {
  expect(errorSentence('INVALID_INPUT', { field: 'memory.limit', problem: 'must be positive' })).toBe(
    'invalid memory.limit: must be positive',
  );
  expect(errorSentence('UNAUTHENTICATED')).toBe('sign in first');
  expect(ErrorCode.options).toContain('AGENT_UNREACHABLE');
});
