export * from './errors.ts';
export * from './host.ts';
export * from './image.ts';
export * from './metrics.ts';
export * from './token.ts';
