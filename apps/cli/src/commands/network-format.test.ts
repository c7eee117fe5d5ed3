import type { ContainerInfo, NetworkInfo } from '@berth/contracts';
import { expect, it } from 'vitest';
import { formatContainers, networkColumn, portsColumn } from './containers.ts';
import { formatNetworks } from './network.ts';

const container = (over: Partial<ContainerInfo>): ContainerInfo =>
  ({
    id: 'abc',
    name: 'web',
    image: 'busybox',
    imageDigest: 'sha256:x',
    state: 'running',
    exitCode: null,
    restartCount: 0,
    group: null,
    config: { network: 'bridge', ports: [] },
    createdAt: new Date().toISOString(),
    startedAt: null,
    finishedAt: null,
    ...over,
  }) as ContainerInfo;

it('ls shows the network and addresses while attached, the mode otherwise, and published ports', () => {
  const attached = container({
    network: {
      network: 'team',
      ip: '10.88.0.2',
      ip6: 'fd00::2',
      mac: '02:42:0a:58:00:02',
      gateway: '10.88.0.1',
      ports: [{ protocol: 'tcp', hostAddress: '0.0.0.0', hostPort: 8080, containerPort: 80 }],
    },
  });
  expect(networkColumn(attached)).toBe('team 10.88.0.2 fd00::2');
  expect(portsColumn(attached)).toBe('0.0.0.0:8080->80/tcp');
  const stopped = container({
    state: 'stopped',
    config: { network: 'container:db', ports: [] } as unknown as ContainerInfo['config'],
  });
  expect(networkColumn(stopped)).toBe('container:db');
  expect(portsColumn(stopped)).toBe('-');
  const text = formatContainers([attached]);
  expect(text.split('\n')[0]).toMatch(/NETWORK\s+PORTS/);
  expect(text).toContain('team 10.88.0.2 fd00::2');
});

it('network ls marks the default network and counts containers', () => {
  const n: NetworkInfo = {
    name: 'berth0',
    default: true,
    bridge: 'berth0',
    subnet: '10.87.0.0/16',
    gateway: '10.87.0.1',
    mtu: 1500,
    isolated: false,
    domain: 'berth.internal',
    createdAt: '',
    containers: [{ containerId: 'abc', container: 'web', ip: '10.87.0.2', mac: '02:42:0a:57:00:02' }],
  };
  const text = formatNetworks([n, { ...n, name: 'iso', default: false, isolated: true, containers: [] }]);
  expect(text).toMatch(/berth0 \(default\)\s+10\.87\.0\.0\/16\s+10\.87\.0\.1\s+-\s+no\s+1500\s+1/);
  expect(text).toMatch(/iso\s+.*\s+yes\s+1500\s+0/);
  expect(formatNetworks([{ ...n, pending: true, containers: [] }])).toMatch(
    /berth0 \(default, made on first use\)\s+10\.87\.0\.0\/16/,
  );
});
