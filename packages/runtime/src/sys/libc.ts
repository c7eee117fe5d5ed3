import { constants } from 'node:os';
import koffi from 'koffi';

// The C library, loaded once for every binding in sys/ (each module declares the functions it
// uses on this one handle), and the one error every binding throws.

type Library = ReturnType<typeof koffi.load>;

let handle: Library | undefined;
export function libc(): Library {
  handle ??= koffi.load('libc.so.6');
  return handle;
}

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** ENOENT for 2, and so on; undefined for a number this platform does not name. */
export function errnoName(errno: number): string | undefined {
  return errnoNames.get(errno);
}

/** A failed syscall with its errno, e.g. `mount(overlay, /x): EINVAL (errno 22)`. */
export class SysError extends Error {
  /** The errno's name (ENOENT, ELOOP, ...), as Node's own errors carry it in `code`. */
  readonly code: string | undefined;
  constructor(
    readonly call: string,
    readonly errno: number,
    detail?: string,
  ) {
    const code = errnoName(errno);
    super(
      `${call}${detail === undefined ? '' : `(${detail})`}: ${code ? `${code} (errno ${errno})` : `errno ${errno}`}`,
    );
    this.name = 'SysError';
    this.code = code;
  }
}

/** `ret` as a number, or a SysError with the calling thread's errno when it is negative. */
export function check(ret: number | bigint, call: string, detail?: string): number {
  const n = Number(ret);
  if (n < 0) throw new SysError(call, koffi.errno(), detail);
  return n;
}
