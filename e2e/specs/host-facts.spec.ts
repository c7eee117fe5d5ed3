// The walking skeleton, end to end: start.sh brings Berth up, the admin signs in in Chromium
// and sees the host's facts live from berthd; with berthd stopped the dashboard says so.
import { readFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactsDir, launchChromium, signIn } from './browser.ts';
import { pidOf, startStack, type TestStack } from './stack.ts';

// What the dashboard must show, computed here from the kernel's own files.
function expectedCgroupLabel(): string {
  const types = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' - ')[1]?.split(' ')[0]);
  const v1 = types.includes('cgroup');
  const v2 = types.includes('cgroup2');
  return v1 && v2 ? 'hybrid (v1 + v2)' : v2 ? 'cgroup v2 (unified)' : 'cgroup v1';
}

describe('Berth started by scripts/start.sh', () => {
  let stack: TestStack;
  let browser: Browser;
  const withPage = async (fn: (page: Page) => Promise<void>) => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    try {
      await fn(page);
    } finally {
      await page.close();
    }
  };

  beforeAll(async () => {
    stack = await startStack();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    const stopped = await stack?.stop();
    if (stack) expect(stopped).toMatch(/panel: stopped/);
  });

  it('runs the panel as berth-panel, never root; a second start.sh only says so', async () => {
    expect(stack.startOutput).toContain('Berth is running');
    expect(await stack.startAgain()).toMatch(/^Berth is already running: panel at http:\/\/localhost:\d+/);
    const status = readFileSync(`/proc/${pidOf(stack, 'panel')}/status`, 'utf8');
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
    expect(uid).toBeGreaterThan(0);
    const passwd = readFileSync('/etc/passwd', 'utf8');
    expect(passwd).toMatch(new RegExp(`^berth-panel:x:${uid}:`, 'm'));
  });

  it('refuses a wrong password in plain words', () =>
    withPage(async (page) => {
      await page.goto(`${stack.url}/login`);
      await page.getByLabel('User name').fill('admin');
      await page.getByLabel('Password').fill('not-the-password');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await expect
        .poll(() => page.getByTestId('login-error').textContent())
        .toBe('wrong user name or password');
      await page.screenshot({ path: join(artifactsDir, 'sign-in-refused.png') });
    }));

  it('signs the admin in and shows the host facts from berthd', () =>
    withPage(async (page) => {
      await signIn(page, stack);
      await page.getByTestId('host-facts').waitFor();
      expect(await page.getByTestId('kernel').textContent()).toBe(release());
      expect(await page.getByTestId('cgroup-mode').textContent()).toBe(expectedCgroupLabel());
      expect(await page.getByTestId('cpus').textContent()).toBe(String(cpus().length));
      expect(await page.getByTestId('signed-in-as').textContent()).toBe('admin');
      const offered = await page.locator('[data-testid=namespaces] .chip.on').allTextContents();
      expect(offered).toEqual(expect.arrayContaining(['mnt', 'pid', 'net', 'ipc', 'uts']));
      const meter = page.getByRole('meter', { name: 'Memory in use' });
      const percent = Number(await meter.getAttribute('aria-valuenow'));
      expect(percent).toBeGreaterThan(0);
      expect(percent).toBeLessThanOrEqual(100);
      expect(await page.getByTestId('agent-version').textContent()).toMatch(/^berthd \S+/);
      expect(await page.getByTestId('agent-uptime').textContent()).toMatch(/^up \d/);
      await page.screenshot({ path: join(artifactsDir, 'dashboard.png'), fullPage: true });
    }));

  it('says "agent unreachable at <socket>" when berthd is stopped', () =>
    withPage(async (page) => {
      await signIn(page, stack);
      await page.getByTestId('host-facts').waitFor();
      process.kill(pidOf(stack, 'berthd'), 'SIGTERM');
      await expect
        .poll(
          () =>
            page
              .getByTestId('facts-error')
              .textContent()
              .catch(() => null),
          { timeout: 30_000 },
        )
        .toBe(`agent unreachable at ${stack.socket}`);
      await page.reload();
      await expect
        .poll(
          () =>
            page
              .getByTestId('facts-error')
              .textContent()
              .catch(() => null),
          { timeout: 30_000 },
        )
        .toBe(`agent unreachable at ${stack.socket}`);
      expect(await page.content()).not.toMatch(/\bat .+\.(js|ts):\d+/); // no stack trace anywhere
      await page.screenshot({ path: join(artifactsDir, 'agent-unreachable.png'), fullPage: true });
    }));
});
