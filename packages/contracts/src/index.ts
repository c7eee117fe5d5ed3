export * from './errors.ts';
export * from './host.ts';
