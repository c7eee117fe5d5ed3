// The process umask is one for all of berthd, and the calls that widen it (a container's or a
// group's cgroups being made) await and overlap: each saving the umask it found and putting
// that back would leave the widened one for good when an earlier call ends first (and with it
// every file berthd writes later, bundles' config.json with their env included, readable by
// all). So the widest need is held while any call runs, and the umask berthd had before the
// first comes back after the last.

let held = 0;
let saved = 0;

export async function withUmask<T>(mask: number, fn: () => Promise<T>): Promise<T> {
  if (held++ === 0) saved = process.umask(mask);
  else process.umask(mask);
  try {
    return await fn();
  } finally {
    if (--held === 0) process.umask(saved);
  }
}
