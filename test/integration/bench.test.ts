/**
 * The benchmark end to end at a tiny size (`--tiny`): every scenario against chatfabric through
 * nginx, Socket.IO and raw ws + NATS, so a change that breaks the harness, a peer or a report
 * fails here rather than in someone's full run. It checks that the figures are consistent
 * (every expected delivery counted, CPU attributed, the files written), not how fast anything is.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { Results } from '../../loadtest/bench/report';
import { ROOT } from '../support/worker';

const run = promisify(execFile);

describe('npm run bench --tiny', () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'cf-bench-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('runs every scenario side by side and writes consistent JSON, Markdown and SVG', async () => {
    const { stdout } = await run(
      process.execPath,
      [path.join(ROOT, 'dist', 'loadtest', 'bench', 'main.js'), '--tiny', '--systems', 'chatfabric-nginx,socketio,ws-nats', '--out', out],
      { cwd: ROOT, env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin` }, timeout: 150_000, maxBuffer: 16 << 20 },
    );
    const files = readdirSync(out).sort();
    expect(files.map((f) => path.extname(f))).toEqual(['.json', '.md', '.svg']);
    const r = JSON.parse(readFileSync(path.join(out, files[0]), 'utf8')) as Results;
    const systems = ['chatfabric-nginx', 'socketio', 'ws-nats'];

    for (const s of systems) {
      for (const step of [...r.A, ...r.B].filter((x) => x.system === s)) {
        // Nothing is lost at this size, every delivery was attributed to its step, and the
        // servers' CPU was seen.
        expect(step.expected).toBeGreaterThan(0);
        expect(step.received).toBe(step.expected);
        expect(step.lost).toBe(0);
        expect(step.p50Ms).toBeGreaterThan(0);
        expect(step.p99Ms).toBeGreaterThanOrEqual(step.p50Ms);
        expect(step.window.serverCpuS).toBeGreaterThan(0);
      }
      expect(r.A.filter((x) => x.system === s)).toHaveLength(1);
      expect(r.B.filter((x) => x.system === s)).toHaveLength(1);
      const d = r.D.find((x) => x.system === s)!;
      expect(d.ready).toBe(d.n);
      expect(d.serverCpuMsPerConn).toBeGreaterThan(0);
      const c = r.C.find((x) => x.system === s)!;
      expect(c.ready).toBe(c.n);
      expect(c.rssTotal).toBeGreaterThan(c.rssBaseline * 0.5);
      const e = r.E.find((x) => x.system === s)!;
      expect(e.finished).toBe(true);
      expect(e.ready).toBe(e.n);
    }
    // chatfabric announces every join to the room; the minimal peers announce nothing.
    expect(r.E.find((x) => x.system === 'chatfabric-nginx')!.framesPerJoin).toBeGreaterThan(r.E.find((x) => x.system === 'ws-nats')!.framesPerJoin);
    // Only chatfabric reloads; every member came back.
    expect(r.F.map((x) => x.system)).toEqual(['chatfabric-nginx']);
    expect(r.F[0].resumed).toBe(r.F[0].members);
    expect(r.F[0].window.serverCpuByRole.worker).toBeGreaterThan(0);

    const md = readFileSync(path.join(out, files[1]), 'utf8');
    for (const heading of ['### A.', '### B.', '### C.', '### D.', '### E.', '### F.', '### Ratios', '### Noise']) expect(md).toContain(heading);
    expect(md).toContain('chatfabric via nginx ÷ Socket.IO + Redis adapter');
    expect(stdout).toContain(md.split('\n')[0]);
    expect(readFileSync(path.join(out, files[2]), 'utf8')).toMatch(/^<svg[\s\S]*<polyline[\s\S]*<\/svg>\n$/);
  }, 180_000);
});
