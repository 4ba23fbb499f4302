/**
 * A real browser for the web client's tests: Debian's chromium, driven by playwright-core (which
 * downloads nothing; scripts/setup.sh installs the package like the other Debian ones).
 * close() ends the browser process playwright started, and only that one.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's /usr/bin/chromium is a shell wrapper; playwright wants the binary itself. */
export function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/lib/chromium/chromium', '/usr/bin/chromium'].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`no chromium found (looked at ${candidates.join(', ')}): run bash scripts/setup.sh, which installs it`);
  return found;
}

export function launchBrowser(): Promise<Browser> {
  // No sandbox: the tests run as root in CI, where chromium refuses to start with one.
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}
