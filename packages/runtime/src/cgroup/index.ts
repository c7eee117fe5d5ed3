export * from './detect.ts';
export type * from './manager.ts';
export type * from './resources.ts';
