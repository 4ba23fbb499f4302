/**
 * The nginx configuration scripts/cluster.js generates for the public port: per-address limits
 * answering 429, /ws the only proxied path, no version, sized above the workers' capacity.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const cluster = require('../../scripts/cluster.js');

describe('the nginx configuration (scripts/cluster.js)', () => {
  function conf(env: Record<string, string> = {}): string {
    const runDir = mkdtempSync(path.join(os.tmpdir(), 'cf-conf-'));
    try {
      return cluster.nginxConf(cluster.settings({ CHATFABRIC_RUN_DIR: runDir, ...env }), [9001, 9002]);
    } finally {
      rmSync(runDir, { recursive: true, force: true });
    }
  }

  it('limits connections and handshakes per address on /ws, answering 429, and hides its version', () => {
    const c = conf();
    expect(c).toContain('server_tokens off;');
    expect(c).toContain('limit_conn_zone $binary_remote_addr zone=chatfabric_conn:10m;');
    expect(c).toContain('limit_conn chatfabric_conn 200;');
    expect(c).toContain('limit_req_zone $binary_remote_addr zone=chatfabric_handshakes:10m rate=20r/s;');
    expect(c).toContain('limit_req zone=chatfabric_handshakes burst=40 nodelay;');
    expect(c).toContain('limit_conn_status 429;');
    expect(c).toContain('limit_req_status 429;');
    expect(c).toContain('proxy_set_header X-Forwarded-For $remote_addr;');
  });

  it('proxies /ws alone: every other path is answered by nginx with 404', () => {
    const c = conf();
    const locations = [...c.matchAll(/location ([^{]+)\{([^}]*(?:\{[^}]*\}[^}]*)*)\}/g)].map((m) => ({ at: m[1].trim(), body: m[2] }));
    expect(locations.map((l) => l.at)).toEqual(['/', '@chatfabric_limited', '= /ws']);
    for (const l of locations) expect(l.body.includes('proxy_pass'), l.at).toBe(l.at === '= /ws');
    expect(locations[0].body).toContain('return 404');
  });

  it('takes its limits from the environment; 0 turns one off', () => {
    const c = conf({ CHATFABRIC_CONN_PER_ADDRESS: '50', CHATFABRIC_HANDSHAKES_PER_SEC: '5', CHATFABRIC_HANDSHAKE_BURST: '7' });
    expect(c).toContain('limit_conn chatfabric_conn 50;');
    expect(c).toContain('rate=5r/s;');
    expect(c).toContain('burst=7 nodelay;');
    const off = conf({ CHATFABRIC_CONN_PER_ADDRESS: '0', CHATFABRIC_HANDSHAKES_PER_SEC: '0' });
    expect(off).not.toMatch(/^\s*limit_conn(_zone)? /m);
    expect(off).not.toMatch(/^\s*limit_req(_zone)? /m);
    expect(() => conf({ CHATFABRIC_CONN_PER_ADDRESS: 'many' })).toThrow('CHATFABRIC_CONN_PER_ADDRESS must be a whole number');
  });

  it('sizes nginx above the workers\' capacity: 2 x 15,000 WebSockets need 60,000 descriptors', () => {
    const c = conf();
    const processes = Number(/worker_processes (\d+);/.exec(c)![1]);
    const perProcess = Number(/worker_connections (\d+);/.exec(c)![1]);
    // A proxied WebSocket takes two of nginx's connections.
    expect((processes * perProcess) / 2).toBeGreaterThanOrEqual(2 * 15_000);
  });
});
