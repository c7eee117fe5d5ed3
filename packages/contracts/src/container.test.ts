import { describe, expect, it } from 'vitest';
import { AgentPolicy } from './agent-config.ts';
import { ContainerConfig, parsePublish, parseRestartPolicy } from './container.ts';

const firstIssue = (input: unknown) => {
  const r = ContainerConfig.safeParse(input);
  if (r.success) return undefined;
  const i = r.error.issues[0]!;
  return `${i.path.join('.')}: ${i.message}`;
};

describe('ContainerConfig', () => {
  it('fills in defaults', () => {
    expect(ContainerConfig.parse({ name: 'lab', image: 'debian:bookworm' })).toMatchObject({
      kind: 'app',
      network: 'none',
      restart: 'no',
      autostart: false,
      privileged: false,
      limits: {},
      volumes: [],
    });
  });

  it.each([
    [{ name: 'a/b', image: 'x' }, /^name: use letters/],
    [{ name: 'a..b', image: 'x' }, 'name: must not contain ".."'],
    [{ name: '..', image: 'x' }, /^name: /],
    [{ name: 'x'.repeat(64), image: 'x' }, 'name: must be at most 63 characters'],
    [{ name: 'ok', image: 'x'.repeat(513) }, 'image: must be at most 512 characters'],
    [{ name: 'ok', image: 'x', limits: { memoryBytes: -1 } }, 'limits.memoryBytes: must be at least 4 MiB'],
    [{ name: 'ok', image: 'x', limits: { cpus: -2 } }, 'limits.cpus: must be greater than 0'],
    [{ name: 'ok', image: 'x', limits: { pids: 0 } }, 'limits.pids: must be at least 1'],
    [{ name: 'ok', image: 'x', limits: { cpus: '2' } }, /^limits.cpus: /],
    [{ name: 'ok', image: 'x', restart: 'sometimes' }, /^restart: must be no, always/],
    [{ name: 'ok', image: 'x', network: 'container:../x' }, 'network: names no valid container'],
    [{ name: 'ok', image: 'x', env: ['NOEQUALS'] }, 'env.0: must look like KEY=value'],
    [{ name: 'ok', image: 'x', cwd: 'relative' }, 'cwd: must be an absolute path'],
    [
      { name: 'ok', image: 'x', volumes: [{ type: 'bind', source: 'rel', target: '/d' }] },
      'volumes.0.source: must be an absolute path',
    ],
    [
      { name: 'ok', image: 'x', volumes: [{ type: 'volume', source: 'v/../x', target: '/d' }] },
      /^volumes.0.source: /,
    ],
    [{ name: 'ok', image: 'x', surprise: true }, /^: Unrecognized key/],
  ])('refuses %j', (input, expected) => {
    const issue = firstIssue(input);
    if (typeof expected === 'string') expect(issue).toBe(expected);
    else expect(issue).toMatch(expected);
  });

  it('parses restart policies', () => {
    expect(parseRestartPolicy('on-failure:3')).toEqual({ name: 'on-failure', maxRetries: 3 });
    expect(parseRestartPolicy('always')).toEqual({ name: 'always' });
  });
});

describe('AgentPolicy', () => {
  it('defaults to nothing bind-mountable and no privileged containers', () => {
    expect(AgentPolicy.parse({})).toMatchObject({ bindMountAllowlist: [], allowPrivileged: false });
  });
  it('refuses / and relative paths in the allowlist', () => {
    expect(AgentPolicy.safeParse({ bindMountAllowlist: ['/'] }).success).toBe(false);
    expect(AgentPolicy.safeParse({ bindMountAllowlist: ['srv'] }).success).toBe(false);
  });
});

describe('published ports', () => {
  it('parses [hostIP:]hostPort:containerPort[/udp]', () => {
    expect(parsePublish('8080:80')).toEqual({
      protocol: 'tcp',
      hostAddress: '0.0.0.0',
      hostPort: 8080,
      containerPort: 80,
    });
    expect(parsePublish('127.0.0.1:5353:53/udp')).toEqual({
      protocol: 'udp',
      hostAddress: '127.0.0.1',
      hostPort: 5353,
      containerPort: 53,
    });
  });

  it('refuses bad specs naming the field', () => {
    expect(() => parsePublish('80')).toThrow(/hostPort:containerPort/);
    expect(() => parsePublish('8080:0')).toThrow(/containerPort/);
    expect(() => parsePublish('70000:80')).toThrow(/hostPort/);
    expect(() => parsePublish('999.1.1.1:80:80')).toThrow(/hostAddress/);
    expect(() => parsePublish('8080:80/sctp')).toThrow(/udp/);
  });

  it('defaults a container to no published ports', () => {
    expect(ContainerConfig.parse({ name: 'a', image: 'busybox' }).ports).toEqual([]);
  });
});
