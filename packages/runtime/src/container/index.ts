export * from './errors.ts';
export { helperPath } from './helper.ts';
export * from './monitor-client.ts';
export * from './runtime.ts';
export * from './spawner.ts';
export * from './state.ts';
