// How the dashboard writes numbers for people.

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 100 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

/** 93784 → "1d 2h 3m"; under a minute, seconds. */
export function formatUptime(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return [d && `${d}d`, (d || h) && `${h}h`, `${m}m`].filter(Boolean).join(' ');
}

/** Share of memory in use (total − available), 0..1. */
export function memoryUsed(memory: { totalBytes: number; availableBytes: number }): number {
  if (memory.totalBytes <= 0) return 0;
  return Math.min(1, Math.max(0, (memory.totalBytes - memory.availableBytes) / memory.totalBytes));
}
