import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/worker';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { staleness } = require('../../scripts/build.js') as { staleness: (dir?: string) => string | null };
const run = promisify(execFile);

describe('set-up skips what is done', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cf-stale-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  const at = (file: string, secondsAgo: number) => {
    const p = path.join(tmp, file);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, '');
    const t = new Date(Date.now() - secondsAgo * 1000);
    // The file and the directories it was made in (a new entry changes a directory's time).
    for (let q = p; q !== tmp; q = path.dirname(q)) utimesSync(q, t, t);
  };

  it('builds only when an input is newer than the last build, and says which', () => {
    expect(staleness(tmp)).toBe('no build yet');
    at('src/main.ts', 100);
    at('web/public/index.html', 100);
    at('tsconfig.json', 100);
    at('dist/.build-stamp', 50);
    expect(staleness(tmp)).toBeNull();
    at('web/public/index.html', 10); // a page edited after the build
    expect(staleness(tmp)).toBe('web changed');
    at('dist/.build-stamp', 5);
    expect(staleness(tmp)).toBeNull();
    at('tui/core/new-file.ts', 1); // a new file (its directory changes too)
    expect(staleness(tmp)).toBe('tui changed');
    at('dist/.build-stamp', 0);
    at('loadtest/results/2026-12-02.json', -5); // a benchmark's output is no source
    at('loadtest/bench/main.ts', 10);
    expect(staleness(tmp)).toBeNull();
    at('package-lock.json', -5); // dependencies changed: their types may have
    expect(staleness(tmp)).toBe('package-lock.json changed');
  });

  it('says nothing and changes nothing when everything is in place (the tests ran it already)', async () => {
    const { stdout, stderr } = await run('bash', ['scripts/setup.sh'], { cwd: ROOT, env: { ...process.env, CHATFABRIC_EXTRA_PACKAGES: 'chromium' } });
    expect({ stdout, stderr }).toEqual({ stdout: '', stderr: '' });
    expect(staleness()).toBeNull();
  });
});
