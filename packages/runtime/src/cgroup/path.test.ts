import { describe, expect, it } from 'vitest';
import { defaultCgroupPath, normaliseCgroupPath, resolveCgroupPath } from './path.ts';

describe('cgroup paths', () => {
  it('default layout is /berth/<id>, or under a configured parent', () => {
    expect(defaultCgroupPath('c1')).toBe('/berth/c1');
    expect(defaultCgroupPath('web.1', '/tenants//a/')).toBe('/tenants/a/web.1');
  });

  it('refuses ids that are not one path component', () => {
    for (const id of ['', '..', 'a/b', '../x', '-x', 'a\nb']) {
      expect(() => defaultCgroupPath(id), id).toThrow(/container id/);
    }
  });

  it('absolute cgroupsPath is taken from the hierarchy root, relative goes under the parent', () => {
    expect(resolveCgroupPath('/custom/x', { containerId: 'c1' })).toBe('/custom/x');
    expect(resolveCgroupPath('team/x', { containerId: 'c1' })).toBe('/berth/team/x');
    expect(resolveCgroupPath('x', { containerId: 'c1', parent: '/p' })).toBe('/p/x');
    expect(resolveCgroupPath(undefined, { containerId: 'c1' })).toBe('/berth/c1');
    expect(resolveCgroupPath('', { containerId: 'c1' })).toBe('/berth/c1');
  });

  it('refuses escapes, the root and systemd slice paths, naming the field', () => {
    expect(() => resolveCgroupPath('../../etc', { containerId: 'c1' })).toThrow(
      /linux.cgroupsPath: .*"\.\."/,
    );
    expect(() => resolveCgroupPath('/', { containerId: 'c1' })).toThrow(/linux.cgroupsPath: .*root/);
    expect(() => resolveCgroupPath('system.slice:berth:c1', { containerId: 'c1' })).toThrow(/systemd/);
    expect(() => normaliseCgroupPath('rel', 'cgroupParent')).toThrow(/cgroupParent: "rel" must be absolute/);
  });
});
