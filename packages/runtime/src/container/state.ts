import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Hook, OciConfig } from '../spec/config.ts';
import { RuntimeError } from './errors.ts';

// A container's state dir (<root>/<id>, root-only): state.json (written atomically by the
// runtime), config.json (the config it was created from), monitor.sock, console.log and
// exit (written atomically by the monitor when init exits).

export type Status = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export interface StateRecord {
  id: string;
  bundle: string;
  pid?: number;
  /** /proc/<pid>/stat start time: tells our init from a later process reusing its pid. */
  pidStart?: string;
  monitorPid?: number;
  monitorStart?: string;
  created: string;
  started?: boolean;
  paused?: boolean;
  cgroupPath?: string;
  /** Ancestors of cgroupPath that create made (absolute dirs); delete removes them if empty. */
  cgroupParents?: string[];
  /** The cgroup came from a CgroupPool (delete hands it back for removal in the background). */
  cgroupPooled?: boolean;
  annotations?: Record<string, string>;
  /** Kept here so delete need not parse the whole config. */
  poststop?: Hook[];
}

export interface ExitRecord {
  exitCode: number;
  signal: number;
  exitedAt: string;
}

export interface OciState {
  ociVersion: string;
  id: string;
  status: Status;
  pid?: number;
  bundle: string;
  annotations?: Record<string, string>;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$/;

export function checkId(id: string): void {
  if (!ID.test(id))
    throw new RuntimeError('INVALID_ID', `invalid container id "${id}": use letters, digits and _.+-`);
}

export class StateDir {
  constructor(readonly dir: string) {}

  get path(): string {
    return this.dir;
  }

  file(name: string): string {
    return join(this.dir, name);
  }

  read(): StateRecord {
    try {
      return JSON.parse(readFileSync(this.file('state.json'), 'utf8')) as StateRecord;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        throw new RuntimeError('NOT_FOUND', 'container does not exist');
      throw e;
    }
  }

  write(record: StateRecord): void {
    const tmp = this.file('.state.json.tmp');
    writeFileSync(tmp, JSON.stringify(record), { mode: 0o600 });
    renameSync(tmp, this.file('state.json'));
  }

  readConfig(): OciConfig {
    return JSON.parse(readFileSync(this.file('config.json'), 'utf8')) as OciConfig;
  }

  writeConfig(config: OciConfig): void {
    writeFileSync(this.file('config.json'), JSON.stringify(config), { mode: 0o600 });
  }

  /** writeConfig(), in the thread pool (the config is serialised at once). */
  writeConfigAsync(config: OciConfig): Promise<void> {
    return writeFile(this.file('config.json'), JSON.stringify(config), { mode: 0o600 });
  }

  exit(): ExitRecord | undefined {
    try {
      return JSON.parse(readFileSync(this.file('exit'), 'utf8')) as ExitRecord;
    } catch {
      return undefined;
    }
  }

  exists(): boolean {
    return existsSync(this.file('state.json'));
  }

  static create(root: string, id: string): StateDir {
    mkdirSync(root, { recursive: true, mode: 0o700 });
    const dir = join(root, id);
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST')
        throw new RuntimeError('ALREADY_EXISTS', `container "${id}" already exists`);
      throw e;
    }
    return new StateDir(dir);
  }
}

/** Field 22 of /proc/<pid>/stat, or undefined if the process is gone. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
}

export function parentPid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number | undefined, start: string | undefined): boolean {
  return pid !== undefined && start !== undefined && processStart(pid) === start;
}

export function statusOf(dir: StateDir, rec: StateRecord): Status {
  if (rec.pid === undefined) return 'creating';
  if (!isAlive(rec.pid, rec.pidStart) || existsSync(dir.file('exit'))) return 'stopped';
  if (rec.paused) return 'paused';
  return rec.started ? 'running' : 'created';
}
