/**
 * Headless Debian chromium driven by playwright-core (which ships no browser of its own). `.ci/run` installs
 * the `chromium` package when /usr/bin/chromium is missing; CHROMIUM_PATH points elsewhere if needed.
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Flags for a container without a GPU or network: no sandbox, and none of chromium's background traffic. */
const args = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(chromiumPath))
    throw new Error(
      `no chromium at ${chromiumPath}: install it (apt-get install -y chromium) or set CHROMIUM_PATH`,
    );
  return chromium.launch({ executablePath: chromiumPath, headless: true, args });
}
