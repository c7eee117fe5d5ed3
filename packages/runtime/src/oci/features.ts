import {
  SECCOMP_ACTIONS,
  SECCOMP_ARCHITECTURES,
  SECCOMP_FILTER_FLAGS,
  SECCOMP_OPERATORS,
} from '../seccomp/index.ts';
import { namespaceTypes } from '../spec/config.ts';
import { CAPABILITIES } from '../spec/linux.ts';
import { MOUNT_OPTION_NAMES } from '../spec/mounts.ts';

// `berth-runtime features`: the runtime-spec's features document (features.md,
// features-linux.md), built from the same tables the compiler checks a config against, so
// it cannot claim a name the runtime would refuse. What it lists is what Berth recognises,
// independent of this host's kernel (the spec asks for that).

export const OCI_VERSION_MIN = '1.0.0';
export const OCI_VERSION_MAX = '1.2.0';

export interface FeaturesDocument {
  ociVersionMin: string;
  ociVersionMax: string;
  hooks: string[];
  mountOptions: string[];
  linux: {
    namespaces: string[];
    capabilities: string[];
    cgroup: { v1: boolean; v2: boolean; systemd: boolean; systemdUser: boolean; rdma: boolean };
    seccomp: {
      enabled: boolean;
      actions: string[];
      operators: string[];
      archs: string[];
      knownFlags: string[];
      supportedFlags: string[];
    };
    apparmor: { enabled: boolean };
    selinux: { enabled: boolean };
    intelRdt: { enabled: boolean };
    mountExtensions: { idmap: { enabled: boolean } };
  };
  annotations: Record<string, string>;
}

export function features(version: string): FeaturesDocument {
  const flags = Object.keys(SECCOMP_FILTER_FLAGS).sort();
  return {
    ociVersionMin: OCI_VERSION_MIN,
    ociVersionMax: OCI_VERSION_MAX,
    hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
    mountOptions: MOUNT_OPTION_NAMES,
    linux: {
      namespaces: [...namespaceTypes].sort(),
      capabilities: [...CAPABILITIES],
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false, rdma: false },
      seccomp: {
        enabled: true,
        actions: [...SECCOMP_ACTIONS].sort(),
        operators: [...SECCOMP_OPERATORS].sort(),
        archs: [...SECCOMP_ARCHITECTURES].sort(),
        knownFlags: flags,
        supportedFlags: flags,
      },
      apparmor: { enabled: false },
      selinux: { enabled: false },
      intelRdt: { enabled: false },
      mountExtensions: { idmap: { enabled: false } },
    },
    annotations: { 'org.berth.runtime.version': version },
  };
}
