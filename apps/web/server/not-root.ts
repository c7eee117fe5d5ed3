/**
 * The panel never runs as root: it holds sessions and talks to the web, and can do nothing to
 * the host except through berthd. scripts/start.sh runs it as the user berth-panel.
 */
export function refuseRoot(what: string): void {
  if (process.getuid?.() === 0) {
    throw new Error(
      `${what} must not run as root; scripts/start.sh runs it as the unprivileged user berth-panel`,
    );
  }
}
