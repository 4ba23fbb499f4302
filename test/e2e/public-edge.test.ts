/**
 * The public port as clients meet it: the whole cluster under PM2 behind nginx. One address
 * cannot lock everyone else out (connections and handshakes per address, nginx's and the
 * workers'); nginx serves the browser client (page and assets from disk, its settings from a
 * worker) and the WebSocket endpoint, nothing else, without its version; the page of the host
 * a browser connected to may open chat connections through it.
 * Clients choose their source address in 127.0.0.0/8.
 */
import http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SECURITY_HEADERS } from '../../src/web';
import { closeAll, handshake, type Handshake } from '../support/from-address';
import { startPm2Cluster, type Pm2Cluster } from '../support/pm2-cluster';

let user = 0;
const next = (label: string) => `${label}${++user}`;
const opened: Handshake[] = [];

/** `count` handshakes from one address, `batch` at a time; every result is kept for the cleanup. */
async function openMany(cluster: Pm2Cluster, count: number, opts: { localAddress: string; batch?: number; label?: string }): Promise<Handshake[]> {
  const out: Handshake[] = [];
  const batch = opts.batch ?? 25;
  for (let i = 0; i < count; i += batch) {
    const n = Math.min(batch, count - i);
    const results = await Promise.all(
      Array.from({ length: n }, () => handshake(cluster.wsUrl, next(opts.label ?? 'u'), { localAddress: opts.localAddress })),
    );
    opened.push(...results);
    out.push(...results);
  }
  return out;
}

afterEach(async () => {
  await closeAll(opened.splice(0));
});

describe('one address holding connections (PM2 + nginx)', () => {
  let cluster: Pm2Cluster;

  beforeAll(async () => {
    // Workers small enough that one address could fill both (2 x 150), as the 4,500 idle
    // WebSockets filled the public port; handshake limits off, so only holding counts here.
    cluster = await startPm2Cluster({
      workers: 2,
      env: { MAX_CONNECTIONS: '150', CHATFABRIC_HANDSHAKES_PER_SEC: '0', HANDSHAKE_RATE_PER_SEC: '0' },
    });
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 60_000);

  it('gets 200 (the default per address) and 429 for the rest, while another address still connects', async () => {
    const attacker = await openMany(cluster, 300, { localAddress: '127.0.0.1', label: 'hog' });
    const held = attacker.filter((r) => r.ok);
    const refused = attacker.filter((r): r is Extract<Handshake, { ok: false }> => !r.ok);
    console.log(`[public-edge] one address through nginx: ${held.length} of 300 held, ${refused.length} refused (${[...new Set(refused.map((r) => r.status))].join(', ')})`);
    expect(held.length).toBe(200);
    for (const r of refused) {
      expect(r.status).toBe(429);
      expect(r.body).toBe('too many connections from your address (at most 200): close one first\n');
    }
    // Held connections are spread over both workers (sticky by username).
    expect(new Set(held.map((r) => (r.ok ? r.welcome?.worker : null))).size).toBe(2);

    // Everyone else is not locked out.
    const [victim] = await openMany(cluster, 1, { localAddress: '127.0.0.2', label: 'victim' });
    expect(victim).toMatchObject({ ok: true, welcome: { type: 'welcome' } });

    // A freed slot is the attacker's again, and only one.
    await closeAll(held.slice(0, 1));
    let back: Handshake | undefined;
    for (let i = 0; i < 100 && !back?.ok; i++) {
      [back] = await openMany(cluster, 1, { localAddress: '127.0.0.1', label: 'back' });
      if (!back.ok) await new Promise((r) => setTimeout(r, 100));
    }
    expect(back?.ok).toBe(true);
    expect((await openMany(cluster, 1, { localAddress: '127.0.0.1', label: 'over' }))[0]).toMatchObject({ ok: false, status: 429 });
  }, 120_000);
});

describe('the public port with the default limits (PM2 + nginx)', () => {
  let cluster: Pm2Cluster;

  beforeAll(async () => {
    // The workers' own limit low enough to be reached through nginx's 200: it shows that the
    // workers count each client by the address nginx forwards, not by nginx's own address.
    cluster = await startPm2Cluster({ workers: 2, env: { MAX_CONNECTIONS_PER_ADDRESS: '50' } });
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 60_000);

  it('refuses handshakes beyond 20 a second (bursts of 40) per address with 429; another address connects', async () => {
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: 120 }, () => handshake(cluster.wsUrl, next('storm'), { localAddress: '127.0.0.3', welcome: false })));
    const elapsedSec = (performance.now() - started) / 1000;
    opened.push(...results);
    const ok = results.filter((r) => r.ok).length;
    const refused = results.filter((r): r is Extract<Handshake, { ok: false }> => !r.ok);
    console.log(`[public-edge] 120 handshakes at once from one address: ${ok} accepted, ${refused.length} refused, in ${elapsedSec.toFixed(2)} s`);
    expect(ok).toBeGreaterThanOrEqual(1);
    expect(ok).toBeLessThanOrEqual(41 + Math.ceil(20 * elapsedSec));
    expect(refused.length).toBe(120 - ok);
    for (const r of refused) {
      expect(r.status).toBe(429);
      expect(r.body).toBe('too many connection attempts from your address: retry with backoff\n');
    }
    const [other] = await openMany(cluster, 1, { localAddress: '127.0.0.4', label: 'calm' });
    expect(other.ok).toBe(true);
  }, 60_000);

  it('lets the workers count each client by its own address behind nginx', async () => {
    // At 16 handshakes a second, under nginx's 20: only the workers' 50 per address may refuse.
    const results: Handshake[] = [];
    for (let i = 0; i < 150; i += 8) {
      results.push(...(await openMany(cluster, Math.min(8, 150 - i), { localAddress: '127.0.0.5', label: 'many', batch: 8 })));
      await new Promise((r) => setTimeout(r, 500));
    }
    const perWorker = new Map<string, number>();
    for (const r of results) if (r.ok) perWorker.set(r.welcome!.worker, (perWorker.get(r.welcome!.worker) ?? 0) + 1);
    const refused = results.filter((r): r is Extract<Handshake, { ok: false }> => !r.ok);
    console.log(`[public-edge] 150 paced from one address, workers' limit 50: held per worker ${JSON.stringify(Object.fromEntries(perWorker))}, ${refused.length} refused`);
    for (const n of perWorker.values()) expect(n).toBeLessThanOrEqual(50);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect(r.status).toBe(429);
      expect(r.body).toBe('too many connections from your address (at most 50 per worker): close one first\n');
    }
    // nginx reaches the workers from 127.0.0.1: were that the address they counted, this would be refused too.
    const [other] = await openMany(cluster, 1, { localAddress: '127.0.0.6', label: 'fresh' });
    expect(other.ok).toBe(true);
  }, 120_000);

  it('serves /metrics, /healthz and /readyz only on the workers\' ports, and names no version or worker', async () => {
    const base = `http://127.0.0.1:${cluster.publicPort}`;
    const workerIds: string[] = [];
    for (const port of cluster.workerPorts) {
      for (const p of ['/healthz', '/readyz', '/metrics']) expect((await fetch(`http://127.0.0.1:${port}${p}`)).status, `${p} on ${port}`).toBe(200);
      workerIds.push(((await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { worker: string }).worker);
    }
    for (const p of ['/healthz', '/readyz', '/metrics', '/metrics?x=1', '/ws/../metrics', '/WS', '/favicon.ico', '/assets/../metrics']) {
      const res = await fetch(`${base}${p}`);
      const body = await res.text();
      expect(res.status, p).toBe(404);
      expect(body, p).toBe('not found\n');
      expect(res.headers.get('server'), p).toBe('nginx');
    }
    // /ws itself reaches a worker (426 to a plain GET), and that answer names no worker either.
    const ws = await fetch(`${base}/ws`);
    const wsBody = await ws.text();
    expect(ws.status).toBe(426);
    expect(ws.headers.get('server')).toBe('nginx');
    for (const id of workerIds) expect(wsBody).not.toContain(id);
    expect(wsBody).not.toMatch(/v\d+\.\d+\.\d+/);
  });

  it('serves the browser client: the page and its modules from disk with the workers\' headers, its settings from a worker', async () => {
    const base = `http://127.0.0.1:${cluster.publicPort}`;
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await page.text()).toContain('/assets/web/main.js');
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(page.headers.get(name), name).toBe(value);
    expect(page.headers.get('cache-control')).toBe('no-cache');
    // Revalidated, not downloaded again.
    const again = await fetch(`${base}/`, { headers: { 'If-None-Match': page.headers.get('etag')! } });
    expect(again.status).toBe(304);

    const main = await fetch(`${base}/assets/web/main.js`);
    expect(main.status).toBe(200);
    expect(main.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(main.headers.get('content-security-policy')).toBe(SECURITY_HEADERS['Content-Security-Policy']);
    expect((await fetch(`${base}/assets/style.css`)).headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect((await fetch(`${base}/assets/web/main.js.map`)).headers.get('content-type')).toBe('application/json; charset=utf-8');

    const settings = await fetch(`${base}/client.json`);
    expect(settings.status).toBe(200);
    expect(settings.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await settings.json()).toEqual({ auth: 'none', maxMessageLength: 2000, room: 'global' });

    // Sent as written (fetch would resolve the dots first): nothing outside dist/web is served.
    // nginx resolves the dots (404 for what is left) and refuses a path above / with 400.
    const refusals: Record<string, number> = {
      '/assets/../package.json': 404,
      '/assets/%2e%2e/package.json': 404,
      '/assets/../../package.json': 400,
      '/assets/web/': 404,
      '/assets/': 404,
    };
    for (const [p, status] of Object.entries(refusals)) {
      const res = await rawGet(cluster.publicPort, p);
      expect(res.status, p).toBe(status);
      expect(res.body, p).not.toContain('"name"');
    }
    expect((await rawGet(cluster.publicPort, '/', 'POST')).status).toBe(405);
  });

  it('lets in a listed origin and refuses other origins, the same host name on another port included', async () => {
    const port = cluster.publicPort;
    const from = (user: string, headers: Record<string, string>) => handshake(cluster.wsUrl, next(user), { localAddress: '127.0.0.7', headers });
    // The cluster lists its own public origins (http://127.0.0.1:<port>, http://localhost:<port>).
    for (const origin of [`http://127.0.0.1:${port}`, `http://localhost:${port}`]) {
      const listed = await from('listed', { Origin: origin });
      opened.push(listed);
      expect(listed, origin).toMatchObject({ ok: true, welcome: { type: 'welcome' } });
    }
    // A page whose Origin equals its Host is not let in for that (DNS rebinding would pass it).
    for (const [host, origin] of [[`chat.internal:${port}`, `http://chat.internal:${port}`], [`127.0.0.1:${port}`, 'https://evil.example'], [`127.0.0.1:${port}`, `http://127.0.0.1:${port + 1}`]]) {
      const other = await from('other', { Host: host, Origin: origin });
      opened.push(other);
      expect(other, origin).toMatchObject({ ok: false, status: 403, body: 'origin not allowed: pages of this origin may not open chat connections\n' });
    }
  });
});

/** A GET (or `method`) sent with its path exactly as written, answered by nginx on the public port. */
function rawGet(port: number, target: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: target }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
