/**
 * The browser client as the worker serves it (src/web.ts through src/server.ts, a memory-mode
 * node on a real port): the page and its assets from memory with their content types, an ETag
 * and 304, the security headers, nothing outside the build (traversal, dotfiles, symlinks,
 * directories), the message when the build is missing, and /client.json in both auth modes.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { clientSettings, NOT_BUILT, SECURITY_HEADERS, WebClient, webClientFor } from '../../src/web';
import { clusterPerTest } from './memory-cluster';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'cf-web-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A build as scripts/build.js leaves it, plus what must never be served. */
const root = path.join(tmp, 'web');
const PAGE = '<!doctype html><title>chatfabric</title><script type="module" src="/assets/web/main.js"></script>\n';
const MAIN = 'import "../tui/core/chat-client.js";\n';
mkdirSync(path.join(root, 'assets', 'web'), { recursive: true });
mkdirSync(path.join(root, 'assets', 'tui', 'core'), { recursive: true });
writeFileSync(path.join(root, 'index.html'), PAGE);
writeFileSync(path.join(root, 'assets', 'web', 'main.js'), MAIN);
writeFileSync(path.join(root, 'assets', 'web', 'main.js.map'), '{"version":3}');
writeFileSync(path.join(root, 'assets', 'tui', 'core', 'chat-client.js'), 'export {};\n');
writeFileSync(path.join(root, 'assets', 'style.css'), 'body { margin: 0 }\n');
writeFileSync(path.join(root, 'assets', 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
writeFileSync(path.join(root, 'assets', 'logo.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47]));
writeFileSync(path.join(root, 'assets', 'data.json'), '{}');
writeFileSync(path.join(root, 'assets', 'blob.bin'), 'x');
writeFileSync(path.join(root, 'assets', '.env'), 'SECRET=1');
writeFileSync(path.join(root, 'notes.txt'), 'beside index.html, outside assets/');
writeFileSync(path.join(tmp, 'package.json'), '{"outside":"the root"}');
symlinkSync(path.join(tmp, 'package.json'), path.join(root, 'assets', 'linked.json'));

const startCluster = clusterPerTest();
const start = (env: Record<string, string> = {}) => startCluster({ nodes: 1, env: { WEB_ROOT: root, ...env } });

/** A request sent exactly as written (fetch would resolve "/assets/../x" before sending it). */
function raw(base: string, method: string, target: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, method, path: target, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the web client served by the worker', () => {
  it('serves the page at / and /index.html, and every asset with its content type', async () => {
    const base = (await start()).nodes[0].httpUrl;
    for (const p of ['/', '/index.html']) {
      const res = await fetch(`${base}${p}`);
      expect(res.status, p).toBe(200);
      expect(res.headers.get('content-type'), p).toBe('text/html; charset=utf-8');
      expect(await res.text(), p).toBe(PAGE);
    }
    const types: Record<string, string> = {
      '/assets/web/main.js': 'text/javascript; charset=utf-8',
      '/assets/tui/core/chat-client.js': 'text/javascript; charset=utf-8',
      '/assets/web/main.js.map': 'application/json; charset=utf-8',
      '/assets/style.css': 'text/css; charset=utf-8',
      '/assets/favicon.svg': 'image/svg+xml',
      '/assets/logo.png': 'image/png',
      '/assets/data.json': 'application/json; charset=utf-8',
      '/assets/blob.bin': 'application/octet-stream',
    };
    for (const [p, type] of Object.entries(types)) {
      const res = await fetch(`${base}${p}`);
      expect(res.status, p).toBe(200);
      expect(res.headers.get('content-type'), p).toBe(type);
    }
    expect(await (await fetch(`${base}/assets/web/main.js`)).text()).toBe(MAIN);
  });

  it('sends the security headers, no-cache and an ETag, and answers a matching If-None-Match with 304', async () => {
    const base = (await start()).nodes[0].httpUrl;
    const res = await fetch(`${base}/assets/web/main.js`);
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(res.headers.get(name), name).toBe(value);
    expect(res.headers.get('content-security-policy')).toBe(
      "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const etag = res.headers.get('etag')!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    expect((await fetch(`${base}/`)).headers.get('etag')).not.toBe(etag);

    for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const again = await raw(base, 'GET', '/assets/web/main.js', { 'If-None-Match': inm });
      expect(again.status, inm).toBe(304);
      expect(again.body, inm).toBe('');
      expect(again.headers.etag, inm).toBe(etag);
    }
    expect((await raw(base, 'GET', '/assets/web/main.js', { 'If-None-Match': '"stale"' })).status).toBe(200);
  });

  it('answers HEAD with the headers and no body, and refuses other methods with 405', async () => {
    const base = (await start()).nodes[0].httpUrl;
    const head = await raw(base, 'HEAD', '/');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(Buffer.byteLength(PAGE)));
    expect(head.body).toBe('');
    expect((await raw(base, 'POST', '/')).status).toBe(405);
    expect((await raw(base, 'PUT', '/assets/style.css')).status).toBe(405);
  });

  it('serves nothing outside the build: traversal, dotfiles, symlinks, directories, files beside the page', async () => {
    const base = (await start()).nodes[0].httpUrl;
    for (const p of [
      '/assets/../package.json',
      '/assets/%2e%2e/package.json',
      '/assets/..%2f..%2fpackage.json',
      '/../package.json',
      '/assets/.env',
      '/assets/linked.json',
      '/assets/web',
      '/assets/web/',
      '/assets/',
      '/notes.txt',
      '/assets/%E0%A4%A',
    ]) {
      const res = await raw(base, 'GET', p);
      expect(res.status, p).toBe(404);
      expect(res.body, p).not.toContain('outside');
      expect(res.body, p).not.toContain('SECRET');
    }
    // Only the page and assets/ are the client's; every other path is the worker's own 404.
    expect((await raw(base, 'GET', '/notes.txt')).headers['content-type']).toBe('application/json');
    expect((await raw(base, 'GET', '/assets/.env')).body).toBe('not found\n');
  });

  it('keeps /healthz, /readyz, /metrics and /ws as they were', async () => {
    const base = (await start()).nodes[0].httpUrl;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await fetch(`${base}/metrics`)).headers.get('content-type')).toContain('text/plain');
    expect((await fetch(`${base}/ws`)).status).toBe(426);
  });

  it('reads the files once, at start: a later change on disk is not served', async () => {
    const own = path.join(tmp, 'once');
    mkdirSync(own, { recursive: true });
    writeFileSync(path.join(own, 'index.html'), 'first');
    const base = (await start({ WEB_ROOT: own })).nodes[0].httpUrl;
    writeFileSync(path.join(own, 'index.html'), 'second');
    expect(await (await fetch(`${base}/`)).text()).toBe('first');
  });

  it('without a build: one warning at start, and / says how to build it', async () => {
    const lines: { level: number; msg: string; root?: string }[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const missing = path.join(tmp, 'not-built');
    const web = WebClient.load(missing, log);
    expect(web.paths()).toEqual([]);
    expect(lines.filter((l) => l.level === 40)).toEqual([expect.objectContaining({ root: missing, msg: expect.stringContaining('the web client is not built: run npm run build') })]);

    const base = (await start({ WEB_ROOT: missing })).nodes[0].httpUrl;
    for (const p of ['/', '/index.html', '/assets/web/main.js']) {
      const res = await fetch(`${base}${p}`);
      expect(res.status, p).toBe(404);
      expect(res.headers.get('content-type'), p).toBe('text/plain; charset=utf-8');
      expect(await res.text(), p).toBe(NOT_BUILT);
    }
    expect(NOT_BUILT).toBe('the web client is not built: run npm run build\n');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/client.json`)).status).toBe(200);
  });

  it('loads the same files the map holds, and only those', () => {
    const web = WebClient.load(root, pino({ level: 'silent' }));
    expect(web.paths()).toEqual([
      '/assets/blob.bin',
      '/assets/data.json',
      '/assets/favicon.svg',
      '/assets/logo.png',
      '/assets/style.css',
      '/assets/tui/core/chat-client.js',
      '/assets/web/main.js',
      '/assets/web/main.js.map',
      '/index.html',
    ]);
  });

  it('WEB_CLIENT=false: no page (the worker\'s 404), /client.json still served', async () => {
    expect(webClientFor(loadConfig({ env: { CHATFABRIC_MODE: 'memory', WEB_CLIENT: 'false' }, args: [] }), pino({ level: 'silent' }))).toBeNull();
    const base = (await start({ WEB_CLIENT: 'false' })).nodes[0].httpUrl;
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'not found' });
    expect((await fetch(`${base}/client.json`)).status).toBe(200);
  });
});

describe('GET /client.json', () => {
  it('auth off: "none", the message length limit and the default room, never cached', async () => {
    const base = (await start({ MAX_MESSAGE_LENGTH: '777' })).nodes[0].httpUrl;
    const res = await fetch(`${base}/client.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await res.json()).toEqual({ auth: 'none', maxMessageLength: 777, room: 'global' });
  });

  it('auth jwt: "jwt", and the default limit', async () => {
    const base = (await start({ AUTH_MODE: 'jwt', AUTH_SECRET: 'web-test-secret-0123456789-abcdefghij' })).nodes[0].httpUrl;
    expect(await (await fetch(`${base}/client.json`)).json()).toEqual({ auth: 'jwt', maxMessageLength: 2000, room: 'global' });
  });

  it('is what clientSettings() makes of the configuration', () => {
    const config = loadConfig({ env: { CHATFABRIC_MODE: 'memory' }, args: [] });
    expect(clientSettings(config)).toEqual({ auth: 'none', maxMessageLength: config.limits.maxMessageLength, room: 'global' });
  });
});
