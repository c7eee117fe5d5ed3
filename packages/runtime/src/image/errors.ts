// Every failure of the image store carries a code (for the agent's API and the CLI) and a
// sentence for a person that names the offending field, path or digest.

export type ImageErrorCode =
  | 'invalid_reference'
  | 'invalid_digest'
  | 'digest_mismatch'
  | 'size_mismatch'
  | 'invalid_manifest'
  | 'unsupported_media_type'
  | 'platform_not_found'
  | 'not_found'
  | 'unauthorized'
  | 'registry_error'
  | 'unsafe_layer'
  | 'layer_too_large'
  | 'invalid_archive'
  | 'in_use'
  | 'build_failed'
  | 'mount_failed'
  | 'aborted'
  /** Something the store wrote cannot be read back (a lease a power loss emptied). */
  | 'corrupt';

export class ImageError extends Error {
  constructor(
    readonly code: ImageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ImageError';
  }
}

export function isImageError(e: unknown, code?: ImageErrorCode): e is ImageError {
  return e instanceof ImageError && (code === undefined || e.code === code);
}
