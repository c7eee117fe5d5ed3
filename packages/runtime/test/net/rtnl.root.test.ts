// Root: the container's end made over in-process rtnetlink (rtnl.ts) is the same as the one
// `ip -batch` makes (containerSideLines): eth0 with its MAC, MTU, addresses and default routes
// inside, the peer down in our own namespace; and a refusal is the kernel's, named.
import { readdirSync, readlinkSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NetError } from '../../src/net/errors.ts';
import { run } from '../../src/net/exec.ts';
import type { VethSpec } from '../../src/net/links.ts';
import { configureContainerSide } from '../../src/net/rtnl.ts';
import { SysError } from '../../src/sys/libc.ts';
import { NetnsNetlink } from '../../src/sys/netns.ts';
import { inNs, rand, useHarness } from './harness.ts';

describe('rtnetlink from inside the namespace (root)', () => {
  const harness = useHarness();

  it('makes eth0 as ip would, with the peer left down in our namespace', async () => {
    const h = harness();
    const ns = await h.processNs();
    const hostIf = `t${h.id.slice(0, 3)}r${rand(2)}`;
    h.defer(() => run('ip', ['link', 'del', hostIf], { allowFail: true }));
    const v: VethSpec = {
      hostIf,
      bridge: 'unused',
      netns: ns.path,
      mtu: 1400,
      mac: '02:42:0a:58:00:07',
      ip: '10.88.0.7',
      prefixLength: 24,
      gateway: '10.88.0.1',
      ip6: 'fd00:88::7',
      prefixLength6: 64,
      gateway6: 'fd00:88::1',
      isolated: false,
    };
    configureContainerSide(v);
    const link = JSON.parse((await inNs(ns, ['ip', '-json', '-details', 'link', 'show', 'eth0'])).stdout)[0];
    expect(link).toMatchObject({ ifname: 'eth0', mtu: 1400, address: v.mac });
    expect(link.flags).toContain('UP');
    expect(link.linkinfo.info_kind).toBe('veth');
    expect((await inNs(ns, ['ip', '-o', 'link', 'show', 'lo'])).stdout).toContain('UP');
    const addrs = (await inNs(ns, ['ip', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout;
    expect(addrs).toContain('inet 10.88.0.7/24');
    expect(addrs).toContain('inet6 fd00:88::7/64');
    expect((await inNs(ns, ['ip', 'route', 'show', 'default'])).stdout).toContain('via 10.88.0.1 dev eth0');
    expect((await inNs(ns, ['ip', '-6', 'route', 'show', 'default'])).stdout).toContain(
      'via fd00:88::1 dev eth0',
    );
    const peer = JSON.parse((await run('ip', ['-json', 'link', 'show', hostIf])).stdout)[0];
    expect(peer).toMatchObject({ ifname: hostIf, mtu: 1400 });
    expect(peer.flags).not.toContain('UP');

    // Again into the same namespace: eth0 exists; the kernel's refusal, as a NetError.
    expect(() => configureContainerSide({ ...v, hostIf: `${hostIf}x` })).toThrow(NetError);
    expect(() => configureContainerSide({ ...v, hostIf: `${hostIf}x` })).toThrow(/exists/);
  });

  it('refuses a file that is not a network namespace with setns and its errno, staying home and leaking no fd', () => {
    const home = readlinkSync('/proc/thread-self/ns/net');
    const fds = readdirSync('/proc/self/fd').length;
    const open = () => new NetnsNetlink('/proc/self/ns/uts', 0);
    expect(open).toThrow(SysError);
    expect(open).toThrow('setns(/proc/self/ns/uts): EINVAL (errno 22)');
    expect(readlinkSync('/proc/thread-self/ns/net')).toBe(home);
    expect(readdirSync('/proc/self/fd').length).toBe(fds);
  });
});
