// The image store: content-addressed blobs, shared unpacked layers, image records, container
// roots, and the sources images come from (registries, archives, builds).
export * from './blobs.ts';
export * from './digest.ts';
export * from './errors.ts';
export * from './oci.ts';
export * from './unpack.ts';
