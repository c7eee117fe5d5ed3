import type { ContainerState } from '@berth/contracts';

// Which verb is allowed in which state, in one place; a refusal says why.

export type Verb =
  | 'start'
  | 'stop'
  | 'restart'
  | 'kill'
  | 'freeze'
  | 'unfreeze'
  | 'delete'
  | 'forceDelete'
  | 'rename'
  | 'limits'
  | 'exec'
  | 'files'
  | 'snapshot'
  | 'restore'
  | 'clone';

const ALLOWED: Record<Verb, readonly ContainerState[]> = {
  start: ['created', 'stopped'],
  // Stopping a stopped container is a no-op, except that it cancels a pending restart.
  stop: ['running', 'paused', 'created', 'stopped'],
  restart: ['running', 'paused', 'created', 'stopped'],
  kill: ['running', 'paused'],
  freeze: ['running'],
  unfreeze: ['paused'],
  delete: ['created', 'stopped'],
  forceDelete: ['created', 'stopped', 'running', 'paused', 'stopping'],
  rename: ['created', 'running', 'paused', 'stopped'],
  limits: ['created', 'running', 'paused', 'stopped'],
  exec: ['running'],
  files: ['created', 'running', 'paused', 'stopped'],
  snapshot: ['created', 'stopped', 'running', 'paused'],
  restore: ['created', 'stopped'],
  clone: ['created', 'stopped', 'running', 'paused'],
};

const HINT: Partial<Record<Verb, string>> = {
  delete: 'stop it first, or delete with force',
  restore: 'stop it first',
  exec: 'start it first',
};

export function allowedStates(verb: Verb): readonly ContainerState[] {
  return ALLOWED[verb];
}

/** Undefined when `verb` may run in `state`, else the sentence a person reads. */
export function refusal(verb: Verb, name: string, state: ContainerState): string | undefined {
  if (ALLOWED[verb].includes(state)) return undefined;
  const shown = verb === 'forceDelete' ? 'delete' : verb;
  const hint = HINT[verb] ? `; ${HINT[verb]}` : '';
  return `cannot ${shown} container "${name}": it is ${state} (${shown} needs ${ALLOWED[verb].join(' or ')})${hint}`;
}
