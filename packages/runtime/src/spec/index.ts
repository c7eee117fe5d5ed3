export * from './config.ts';
export * from './defaults.ts';
export * from './encode.ts';
export * from './linux.ts';
export * from './mounts.ts';
export * from './plan.ts';
