import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// The config every case starts from: what runtime-tools' generator gives
// (generate.New("linux") + util.GetDefaultGenerator: root.path ".", the runc-style default
// mounts, devices cgroup "deny all", five namespaces, masked and read-only paths), written
// here from the runtime spec's own example config rather than copied. One deviation: every
// config carries an absolute cgroupsPath under the suite's own cgroup, because a runtime
// given none on this host would put the container under the caller's (the machine's) cgroup.

// biome-ignore lint/suspicious/noExplicitAny: the config is free-form JSON on purpose (cases write invalid ones)
export type Spec = Record<string, any>;

export const DEFAULT_CAPS = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

export const DEFAULT_MASKED = [
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/sys/firmware',
  '/proc/scsi',
];

export const DEFAULT_READONLY = [
  '/proc/asound',
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

export function defaultSpec(cgroupsPath: string): Spec {
  return {
    ociVersion: '1.0.2',
    root: { path: '.', readonly: false },
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ['sh'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      capabilities: {
        bounding: [...DEFAULT_CAPS],
        effective: [...DEFAULT_CAPS],
        inheritable: [...DEFAULT_CAPS],
        permitted: [...DEFAULT_CAPS],
        ambient: [...DEFAULT_CAPS],
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    hostname: 'mrsdalloway',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      {
        destination: '/dev',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
      },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
      },
      {
        destination: '/dev/shm',
        type: 'tmpfs',
        source: 'shm',
        options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
      },
      {
        destination: '/dev/mqueue',
        type: 'mqueue',
        source: 'mqueue',
        options: ['nosuid', 'noexec', 'nodev'],
      },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    ],
    linux: {
      cgroupsPath,
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: [...DEFAULT_MASKED],
      readonlyPaths: [...DEFAULT_READONLY],
    },
  };
}

/**
 * The one bundle every case uses, as runtime-tools' tests reuse theirs: the busybox-static
 * root filesystem *is* the bundle dir (root.path "."), config.json sits next to /bin.
 * `reset` removes whatever a case left (config, stdout files, outputs) between cases.
 */
export class Bundle {
  private readonly pristine: Set<string>;

  constructor(readonly dir: string) {
    for (const d of ['bin', 'proc', 'sys', 'dev', 'etc', 'tmp', 'root'])
      mkdirSync(join(dir, d), { recursive: true });
    chmodSync(join(dir, 'tmp'), 0o1777);
    copyFileSync('/bin/busybox', join(dir, 'bin/busybox'));
    chmodSync(join(dir, 'bin/busybox'), 0o755);
    const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
    for (const a of applets) if (a !== 'busybox') symlinkSync('busybox', join(dir, 'bin', a));
    writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    writeFileSync(join(dir, 'etc/group'), 'root:x:0:\ntty:x:5:\n');
    this.pristine = new Set(readdirSync(dir));
  }

  reset(): void {
    for (const e of readdirSync(this.dir))
      if (!this.pristine.has(e)) rmSync(join(this.dir, e), { recursive: true, force: true });
    for (const e of readdirSync(join(this.dir, 'tmp')))
      rmSync(join(this.dir, 'tmp', e), { recursive: true, force: true });
  }

  writeConfig(spec: Spec | string): void {
    writeFileSync(
      join(this.dir, 'config.json'),
      typeof spec === 'string' ? spec : JSON.stringify(spec, null, 2),
    );
  }

  path(...p: string[]): string {
    return join(this.dir, ...p);
  }
}
