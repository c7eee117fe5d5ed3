// Operations on one container run one at a time, in the order they were asked; operations on
// different containers run in parallel. A keyed mutex: per key, a chain of promises.

export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    this.tails.set(key, tail);
    tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }

  /** Keys with an operation queued or running. */
  busy(): string[] {
    return [...this.tails.keys()];
  }
}
