export * from './container/index.ts';
export * from './spec/index.ts';
export * as sys from './sys/index.ts';
