import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import type { TestStack } from './stack.ts';

export const artifactsDir = fileURLToPath(new URL('../artifacts', import.meta.url));

/** Debian's Chromium (never a downloaded one), with the flags this machine needs. */
export async function launchChromium(): Promise<Browser> {
  mkdirSync(artifactsDir, { recursive: true });
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** Signs the first admin in through the login page. */
export async function signIn(page: Page, stack: TestStack): Promise<void> {
  await page.goto(`${stack.url}/login`);
  await page.getByLabel('User name').fill('admin');
  await page.getByLabel('Password').fill(stack.adminPassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${stack.url}/`);
}
