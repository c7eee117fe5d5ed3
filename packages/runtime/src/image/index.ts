// The image store: content-addressed blobs, shared unpacked layers, image records, container
// roots, and the sources images come from (registries, archives, builds).

export * from './archive.ts';
export * from './blobs.ts';
export * from './builtin.ts';
export * from './debootstrap.ts';
export * from './digest.ts';
export * from './errors.ts';
export * from './layers.ts';
export * from './oci.ts';
export * from './platform.ts';
export * from './records.ts';
export * from './reference.ts';
export * from './registry.ts';
export * from './rootfs.ts';
export * from './store.ts';
export * from './tarball.ts';
export * from './unpack.ts';
