import { describe, expect, it } from 'vitest';
import { NetError } from './errors.ts';
import { attachSpec, networkSpec, parse } from './spec.ts';

const fieldOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(NetError);
    return (e as NetError).field;
  }
  return undefined;
};

describe('input checks', () => {
  it('names the field at fault', () => {
    expect(fieldOf(() => parse(networkSpec, { name: 'Bad Name' }, 'network'))).toBe('name');
    expect(
      fieldOf(() => parse(networkSpec, { name: 'n', bridge: 'a-very-long-bridge-name' }, 'network')),
    ).toBe('bridge');
    expect(fieldOf(() => parse(networkSpec, { name: 'n', subnet: '10.0.0.1/8' }, 'network'))).toBe('subnet');
    expect(fieldOf(() => parse(networkSpec, { name: 'n', subnet: 'fd00::/64' }, 'network'))).toBe('subnet');
    expect(fieldOf(() => parse(networkSpec, { name: 'n', subnet6: '10.0.0.0/8' }, 'network'))).toBe(
      'subnet6',
    );
    const ok = { containerId: 'c1', network: 'n', netns: { pid: 1 }, hostname: 'web' };
    expect(fieldOf(() => parse(attachSpec, { ...ok, hostname: 'Web_1' }, 'attach'))).toBe('hostname');
    expect(fieldOf(() => parse(attachSpec, { ...ok, netns: { path: 'rel' } }, 'attach'))).toBe('netns.path');
    expect(
      fieldOf(() => parse(attachSpec, { ...ok, ports: [{ hostPort: 70000, containerPort: 80 }] }, 'attach')),
    ).toBe('ports.0.hostPort');
  });

  it('fills defaults', () => {
    const a = parse(
      attachSpec,
      {
        containerId: 'c1',
        network: 'n',
        netns: { pid: 1 },
        hostname: 'web',
        ports: [{ hostPort: 8080, containerPort: 80 }],
      },
      'attach',
    );
    expect(a.ports).toEqual([{ protocol: 'tcp', hostAddress: '0.0.0.0', hostPort: 8080, containerPort: 80 }]);
    expect(a.aliases).toEqual([]);
  });
});
