// The panel's web terminal survives a page reload: a shell opened in Chromium through the
// panel's relay keeps running in berthd when the page goes away; the reloaded page attaches to
// the same session (same $$), with the screen replayed. A session that is gone (here: the
// shell exited) is said so in plain words and a new shell opens.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactsDir, launchChromium, signIn } from './browser.ts';
import { pidOf, repoRoot, startStack, type TestStack } from './stack.ts';

const run = promisify(execFile);
const container = `berth-test-term-${process.pid}`;

async function berth(stack: TestStack, ...argv: string[]): Promise<string> {
  const cli = join(repoRoot, 'apps/cli/dist/berth.js');
  return (await run(process.execPath, [cli, '--socket', stack.socket, ...argv], { timeout: 120_000 })).stdout;
}

/**
 * The terminal's screen as text (xterm's DOM renderer: one element per row), rows joined and
 * all white space left out, so that a line the terminal wrapped reads whole wherever it broke.
 */
const screen = (page: Page) =>
  page
    .locator('.xterm-rows > div')
    .allTextContents()
    .then((rows) => rows.join('').replace(/[\s\u00a0]+/g, ''));

async function waitForScreen(page: Page, pattern: RegExp, timeout = 60_000): Promise<string> {
  let last = '';
  await expect
    .poll(
      async () => {
        last = await screen(page).catch(() => '');
        return pattern.test(last);
      },
      { timeout, interval: 250 },
    )
    .toBe(true)
    .catch((err: Error) => {
      throw new Error(`${err.message}\nthe screen was: ${last}`);
    });
  return last;
}

const sessionOf = async (page: Page) => {
  await expect
    .poll(() => page.getByTestId('terminal-session').textContent(), { timeout: 60_000 })
    .toMatch(/^session [0-9a-f]{8}$/);
  return ((await page.getByTestId('terminal-session').textContent()) ?? '').slice('session '.length);
};

/** Types `echo "<label>-42-pid:$$:"` (after `before`) and returns the pid the shell printed. */
async function shellPid(page: Page, label: string, before = ''): Promise<string | undefined> {
  await page.getByTestId('terminal').click();
  // The marker is computed by the shell ($((6*7))), so seeing it proves the shell ran it.
  await page.keyboard.type(`${before}echo "${label}-$((6*7))-pid:$$:"\n`);
  const pattern = new RegExp(`${label}-42-pid:(\\d+):`);
  return pattern.exec(await waitForScreen(page, pattern))?.[1];
}

describe('the panel terminal', () => {
  let stack: TestStack;
  let browser: Browser;
  const terminalUrl = () => `${stack.url}/containers/${container}/terminal`;

  /** A signed-in page on the container's terminal; `fn` gets the session id it started on. */
  const withTerminal = async (fn: (page: Page, session: string) => Promise<void>) => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
    try {
      await signIn(page, stack);
      // From the dashboard, the way a user gets there.
      await page.getByLabel('Terminal in container').fill(container);
      await page.getByRole('button', { name: 'Open' }).click();
      await page.waitForURL(terminalUrl());
      await fn(page, await sessionOf(page));
    } finally {
      await page.close();
    }
  };

  beforeAll(async () => {
    stack = await startStack();
    await berth(stack, 'launch', 'busybox', container, '--', 'sleep', '100000');
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    if (stack) {
      await berth(stack, 'rm', '-f', container).catch((err: Error) => console.error(err.message));
      await stack.stop();
    }
  });

  it('reattaches to the same shell after a reload, replaying the screen', () =>
    withTerminal(async (page, first) => {
      const pid = await shellPid(page, 'marker', 'sleep 1000 & ');
      expect(pid).toBeDefined();

      await page.reload();
      // Same session, the old screen replayed from berthd's scrollback…
      expect(await sessionOf(page)).toBe(first);
      await waitForScreen(page, new RegExp(`marker-42-pid:${pid}:`));
      // …and the same shell answers, with its background job still running.
      expect(await shellPid(page, 'again')).toBe(pid);
      await page.keyboard.type('jobs\n');
      await waitForScreen(page, /again-42-pid:\d+:.*sleep1000/);
      expect(await screen(page)).not.toMatch(/openedanewshell/);
      await page.screenshot({ path: join(artifactsDir, 'terminal-reattached.png') });

      // The shell exits: a reload cannot attach to it, says so, and gets a new shell.
      await page.keyboard.type('exit\n');
      await waitForScreen(page, /Theshellexitedwithstatus0/);
      await page.reload();
      expect(await sessionOf(page)).not.toBe(first);
      expect(await shellPid(page, 'fresh')).not.toBe(pid);
    }));

  it('says in plain words when the remembered session is gone, and opens a new shell', () =>
    withTerminal(async (page, first) => {
      // Away from the terminal (same tab: the session id stays remembered), the session ends.
      await page.goto(`${stack.url}/`);
      await page.getByTestId('host-facts').waitFor();
      await berth(stack, 'shell', container, '--kill', first);
      await page.goto(terminalUrl());
      await waitForScreen(page, new RegExp(`Theshellsession${first}hasended;openedanewshell\\.`));
      expect(await sessionOf(page)).not.toBe(first);
    }));

  it('reconnects by itself to the same shell when the panel restarts', () =>
    withTerminal(async (page, first) => {
      const pid = await shellPid(page, 'before');
      const panel = pidOf(stack, 'panel');
      process.kill(panel, 'SIGTERM');
      await expect.poll(() => existsSync(`/proc/${panel}`), { timeout: 60_000 }).toBe(false);
      await waitForScreen(page, /Connectionlost;theshellkeepsrunning\.Reconnecting/);
      await stack.startAgain();
      // Reattached: the screen is replayed from berthd (the notice cleared), same session.
      const replayed = await waitForScreen(page, /^(?!.*Connectionlost).*before-42-pid:\d+:/, 120_000);
      expect(replayed).toContain(`before-42-pid:${pid}:`);
      expect(await sessionOf(page)).toBe(first);
      expect(await shellPid(page, 'after')).toBe(pid);
    }));

  it("lists the container's sessions: a new shell, attach to another, end one", () =>
    withTerminal(async (page, first) => {
      const pid = await shellPid(page, 'listed');
      const row = (id: string) => page.getByTestId(`session-${id}`);
      await expect.poll(() => row(first).textContent(), { timeout: 30_000 }).toContain('this terminal');

      await page.getByRole('button', { name: 'new shell' }).click();
      await expect.poll(() => sessionOf(page), { timeout: 60_000 }).not.toBe(first);
      const second = await sessionOf(page);
      await expect.poll(() => row(first).textContent(), { timeout: 30_000 }).toContain('detached');
      expect(await shellPid(page, 'second')).not.toBe(pid);

      await row(first).getByRole('button', { name: 'attach' }).click();
      await expect.poll(() => sessionOf(page), { timeout: 60_000 }).toBe(first);
      await waitForScreen(page, new RegExp(`listed-42-pid:${pid}:`));
      expect(await shellPid(page, 'back')).toBe(pid);

      await row(second).getByRole('button', { name: 'end' }).click();
      await expect.poll(() => row(second).count(), { timeout: 30_000 }).toBe(0);
      const listed = await berth(stack, 'shell', container, '--list', '--format', 'json');
      expect(listed).not.toContain(second);
      expect(listed).toContain(first);
    }));
});
