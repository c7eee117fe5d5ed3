// Which entry of a manifest list / OCI index this host runs: os, architecture and variant in
// the image-spec's vocabulary (Go's GOARCH), from Node's process.arch.
import { ImageError } from './errors.ts';
import type { Descriptor } from './oci.ts';

export interface PlatformWanted {
  os: string;
  architecture: string;
  variant?: string;
}

const ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips64el: 'mips64le',
};

export function hostPlatform(): PlatformWanted {
  const architecture = ARCH[process.arch] ?? process.arch;
  const variant =
    architecture === 'arm64'
      ? 'v8'
      : architecture === 'arm'
        ? `v${(process.config.variables as { arm_version?: string }).arm_version ?? '7'}`
        : undefined;
  return { os: 'linux', architecture, variant };
}

export function formatPlatform(p: { os: string; architecture: string; variant?: string | null }): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** Parses "os/arch[/variant]" (e.g. linux/arm64/v8). */
export function parsePlatform(s: string, field = 'platform'): PlatformWanted {
  const [os, architecture, variant, extra] = s.split('/');
  if (!os || !architecture || extra !== undefined)
    throw new ImageError(
      'platform_not_found',
      `${field}: ${JSON.stringify(s)} is not os/architecture[/variant]`,
    );
  return { os, architecture, variant };
}

/** The index entry for `want`: same os and architecture, the same variant preferred. */
export function selectManifest(manifests: Descriptor[], want: PlatformWanted, where: string): Descriptor {
  const candidates = manifests.filter(
    (m) => m.platform && m.platform.os === want.os && m.platform.architecture === want.architecture,
  );
  const exact = candidates.find((m) => (m.platform?.variant ?? undefined) === want.variant);
  const loose = candidates.find((m) => !m.platform?.variant || !want.variant);
  const hit = exact ?? loose;
  if (hit) return hit;
  const have = manifests.filter((m) => m.platform).map((m) => formatPlatform(m.platform!));
  throw new ImageError(
    'platform_not_found',
    `${where}: no image for ${formatPlatform(want)} (it has ${have.join(', ') || 'no platform entries'})`,
  );
}
