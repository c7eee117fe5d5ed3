// Unit test of the marker protocol against a stand-in tool: a shell loop that, like `ip
// -force -batch -`, reads commands and reports failures on stderr. (The real ip and nft
// sessions are exercised by the root tests, which need root.)
import { afterEach, describe, expect, it } from 'vitest';
import { type SessionTool, ToolSession } from './session.ts';

const FAKE: SessionTool = {
  cmd: 'sh',
  args: [
    '-c',
    'n=0; while IFS= read -r line; do n=$((n+1)); case "$line" in ok*) ;; *) echo "Device \\"$line\\" does not exist." >&2; echo "Command failed -:$n" >&2;; esac; done',
  ],
  marker: (t) => `fail ${t}`,
  join: '\n',
};

describe('tool session', () => {
  let s: ToolSession | undefined;
  afterEach(() => s?.close());

  it('resolves each request when its marker comes back, with the errors of that request only', async () => {
    s = new ToolSession(FAKE);
    const results = await Promise.allSettled([
      s.exec(['ok 1', 'ok 2']),
      s.exec(['ok 3', 'fail eth9', 'ok 4']),
      s.exec(['ok 5']),
    ]);
    expect(results[0]).toEqual({ status: 'fulfilled', value: undefined });
    expect(results[1]).toMatchObject({
      status: 'rejected',
      reason: { message: 'sh: Device "fail eth9" does not exist.' },
    });
    expect(results[2]).toEqual({ status: 'fulfilled', value: undefined });
  });

  it('fails pending requests when the tool dies, and starts it again for the next', async () => {
    s = new ToolSession({ ...FAKE, args: ['-c', 'read -r line; exit 3'] });
    await expect(s.exec(['ok'])).rejects.toThrow(/exited/);
    s.close();
    s = new ToolSession(FAKE);
    await expect(s.exec(['ok'])).resolves.toBeUndefined();
  });
});
