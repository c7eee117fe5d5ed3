// Which shell session this tab's terminal of a container is attached to, so a reload attaches
// to it again instead of starting a new shell. sessionStorage: per tab (a new tab gets its
// own shell), gone when the tab closes (the session then ends by berthd's idle timeout or
// `shell.kill`).

type Store = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

const key = (container: string) => `berth.terminal.session.${container}`;
const SESSION_ID = /^[0-9a-f]{8}$/;

export function storedSession(store: Store, container: string): string | undefined {
  const id = store.getItem(key(container));
  return id && SESSION_ID.test(id) ? id : undefined;
}

export function rememberSession(store: Store, container: string, session: string): void {
  store.setItem(key(container), session);
}

export function forgetSession(store: Store, container: string): void {
  store.removeItem(key(container));
}
