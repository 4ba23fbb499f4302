/**
 * The nginx configuration scripts/cluster.js generates for the public port: per-address limits
 * answering 429, the browser client from disk with the workers' headers and types, /ws and
 * /client.json the only proxied paths, no version, sized above the workers' capacity.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONTENT_TYPES, SECURITY_HEADERS } from '../../src/web';

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

  /** Every location block: where, and its body (one level of nested blocks). */
  const locations = (c: string) =>
    [...c.matchAll(/location ([^{]+)\{([^}]*(?:\{[^}]*\}[^}]*)*)\}/g)].map((m) => ({ at: m[1].trim(), body: m[2] }));

  it('proxies /ws and /client.json alone; serves the page and assets from disk; every other path is nginx\'s 404', () => {
    const c = conf();
    const all = locations(c);
    expect(all.map((l) => l.at)).toEqual(['/', '= /', '= /index.html', '/assets/', '~ /\\.', '@chatfabric_not_built', '= /client.json', '@chatfabric_limited', '= /ws']);
    for (const l of all) expect(l.body.includes('proxy_pass'), l.at).toBe(l.at === '= /ws' || l.at === '= /client.json');
    expect(all[0].body).toContain('return 404 "not found\\n";');
    expect(all.find((l) => l.at === '~ /\\.')!.body).toContain('return 404');
    // The root is absolute (nginx would read a relative one against its prefix, the run directory).
    expect(c).toContain(`root ${path.join(cluster.ROOT, 'dist', 'web')};`);
    expect(all.find((l) => l.at === '= /')!.body).toContain('try_files /index.html @chatfabric_not_built;');
    expect(all.find((l) => l.at === '/assets/')!.body).toContain('try_files $uri =404;');
    expect(all.find((l) => l.at === '@chatfabric_not_built')!.body).toContain('return 404 "the web client is not built: run npm run build\\n";');
    expect(c).toContain('disable_symlinks on from=$document_root;');
    // GET and HEAD only, for everything on the public port.
    expect(c).toMatch(/if \(\$request_method !~ \^\(GET\|HEAD\)\$\) \{\s*return 405;\s*\}/);
  });

  it('sends the workers\' security headers (src/web.ts), always, and no-cache on the page and every asset', () => {
    const c = conf();
    for (const l of locations(c).filter((x) => ['= /', '= /index.html', '/assets/'].includes(x.at))) {
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(l.body, `${l.at} ${name}`).toContain(`add_header ${name} "${value}" always;`);
      expect(l.body, l.at).toContain('add_header Cache-Control "no-cache" always;');
    }
  });

  it('names its own types, as the workers do (src/web.ts), without the system\'s mime.types', () => {
    const c = conf();
    expect(c).not.toMatch(/^\s*include /m);
    const block = /types \{([^}]*)\}/.exec(c)![1];
    const byExt = new Map<string, string>();
    for (const line of block.split(';').map((l) => l.trim()).filter(Boolean)) {
      const [type, ...exts] = line.split(/\s+/);
      for (const ext of exts) byExt.set(`.${ext}`, type);
    }
    for (const [ext, type] of Object.entries(CONTENT_TYPES)) expect(byExt.get(ext), ext).toBe(type.split(';')[0]);
    expect([...byExt.keys()].sort()).toEqual(Object.keys(CONTENT_TYPES).sort());
    expect(c).toContain('default_type application/octet-stream;');
    expect(c).toContain('charset utf-8;');
    // text/html is always among them.
    for (const type of new Set(Object.values(CONTENT_TYPES).filter((t) => t.includes('charset=utf-8')).map((t) => t.split(';')[0]))) {
      if (type !== 'text/html') expect(/charset_types ([^;]+);/.exec(c)![1].split(' '), type).toContain(type);
    }
  });

  it('forwards the Host with its port ($http_host, not $host), for the workers\' same-origin check', () => {
    const c = conf();
    for (const l of locations(c).filter((x) => x.body.includes('proxy_pass'))) {
      expect(l.body, l.at).toContain('proxy_set_header Host $http_host;');
      expect(l.body, l.at).not.toContain('$host;');
    }
  });

  it('serves the web root WEB_ROOT names, made absolute', () => {
    expect(conf({ WEB_ROOT: '/srv/chat-web' })).toContain('root /srv/chat-web;');
    expect(conf({ WEB_ROOT: 'build/web' })).toContain(`root ${path.resolve('build/web')};`);
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
