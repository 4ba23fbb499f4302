/**
 * The worker's own per-address limits on a worker port (no nginx): connections one address may
 * hold and handshakes per second, counted by the TCP peer, or by X-Forwarded-For only when the
 * peer is a trusted proxy (127.0.0.1 by default). Clients pick their source address in
 * 127.0.0.0/8. Memory mode: nothing here needs NATS or Redis.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { closeAll, handshake, type Handshake } from '../support/from-address';
import { uniquePrefix } from '../support/prefix';
import { startWorker, type WorkerHandle } from '../support/worker';

const memory = (env: Record<string, string>) => ({
  natsUrl: 'nats://127.0.0.1:9',
  redisUrl: 'redis://127.0.0.1:9',
  prefix: uniquePrefix('addr'),
  env: { CHATFABRIC_MODE: 'memory', LOG_LEVEL: 'warn', ...env },
});

let user = 0;
const next = () => `addr${++user}`;
const opened: Handshake[] = [];

/** `n` handshakes at once; every result is kept for the cleanup. */
async function burst(w: WorkerHandle, n: number, opts: Parameters<typeof handshake>[2] = {}): Promise<Handshake[]> {
  const results = await Promise.all(Array.from({ length: n }, () => handshake(w.wsUrl, next(), opts)));
  opened.push(...results);
  return results;
}

afterEach(async () => {
  await closeAll(opened.splice(0));
});

describe('the worker limits connections per client address', () => {
  let w: WorkerHandle;

  beforeAll(async () => {
    w = await startWorker({ ...memory({ MAX_CONNECTIONS_PER_ADDRESS: '5', HANDSHAKE_RATE_PER_SEC: '0' }), id: 'addr-conn' });
  });

  afterAll(async () => {
    await w?.stop();
  });

  it('refuses the sixth connection of one address with 429, not another address, and frees a slot on close', async () => {
    const first = await burst(w, 5, { localAddress: '127.0.0.2' });
    expect(first.every((r) => r.ok)).toBe(true);
    const [sixth] = await burst(w, 1, { localAddress: '127.0.0.2' });
    expect(sixth).toMatchObject({ ok: false, status: 429, body: 'too many connections from your address (at most 5 per worker): close one first\n' });
    const [other] = await burst(w, 1, { localAddress: '127.0.0.3' });
    expect(other.ok).toBe(true);

    // A closed connection gives its slot back (counted until its TCP connection has closed).
    await closeAll(first.slice(0, 1));
    const again = await vi.waitFor(
      async () => {
        const [r] = await burst(w, 1, { localAddress: '127.0.0.2' });
        if (!r.ok) throw new Error(`still refused: ${r.status}`);
        return r;
      },
      { timeout: 10_000, interval: 100 },
    );
    expect(again.ok).toBe(true);
    expect((await burst(w, 1, { localAddress: '127.0.0.2' }))[0]).toMatchObject({ ok: false, status: 429 });
  });

  it('counts a trusted proxy\'s clients by X-Forwarded-For, each address on its own', async () => {
    // 127.0.0.1 is a trusted proxy by default (TRUSTED_PROXIES 127.0.0.1,::1).
    const viaProxy = { localAddress: '127.0.0.1', headers: { 'X-Forwarded-For': '203.0.113.7' } };
    expect((await burst(w, 5, viaProxy)).every((r) => r.ok)).toBe(true);
    expect((await burst(w, 1, viaProxy))[0]).toMatchObject({ ok: false, status: 429 });
    // The same proxy's other clients still get in; so does a client appended behind another hop.
    const other = await burst(w, 1, { localAddress: '127.0.0.1', headers: { 'X-Forwarded-For': '203.0.113.8' } });
    expect(other[0].ok).toBe(true);
    const chained = await burst(w, 1, { localAddress: '127.0.0.1', headers: { 'X-Forwarded-For': '198.51.100.1, 203.0.113.7' } });
    expect(chained[0]).toMatchObject({ ok: false, status: 429 });
  });

  it('ignores X-Forwarded-For from an address that is not a trusted proxy', async () => {
    const spoofed = Array.from({ length: 6 }, (_, i) => ({ localAddress: '127.0.0.4', headers: { 'X-Forwarded-For': `198.51.100.${i + 10}` } }));
    const results: Handshake[] = [];
    for (const opts of spoofed) results.push(...(await burst(w, 1, opts)));
    expect(results.slice(0, 5).every((r) => r.ok)).toBe(true);
    expect(results[5]).toMatchObject({ ok: false, status: 429 });
  });

  it('keeps serving: /healthz answers after the refusals', async () => {
    expect((await fetch(`${w.httpUrl}/healthz`)).status).toBe(200);
    const m = await (await fetch(`${w.httpUrl}/metrics`)).text();
    expect(m).toMatch(/chatfabric_address_limit_refusals_total\{limit="connections",worker="addr-conn"\} [1-9]/);
  });
});

describe('the worker limits handshakes per second per client address', () => {
  let w: WorkerHandle;

  beforeAll(async () => {
    w = await startWorker({ ...memory({ HANDSHAKE_RATE_PER_SEC: '2', HANDSHAKE_BURST: '5' }), id: 'addr-rate' });
  });

  afterAll(async () => {
    await w?.stop();
  });

  it('lets a burst of 5 through and refuses the rest with 429, while another address connects', async () => {
    const started = performance.now();
    const results = await burst(w, 15, { localAddress: '127.0.0.5', welcome: false });
    const elapsedSec = (performance.now() - started) / 1000;
    const ok = results.filter((r) => r.ok).length;
    const refused = results.filter((r) => !r.ok);
    // The bucket holds 5 and refills 2 a second while the burst is on its way.
    expect(ok).toBeGreaterThanOrEqual(5);
    expect(ok).toBeLessThanOrEqual(5 + Math.ceil(2 * elapsedSec));
    expect(refused.length).toBe(15 - ok);
    for (const r of refused) {
      expect(r).toMatchObject({ status: 429, body: 'too many connection attempts from your address: retry with backoff\n' });
    }
    expect((await burst(w, 1, { localAddress: '127.0.0.6' }))[0].ok).toBe(true);
    console.log(`[address-limits] worker: ${ok} of 15 handshakes at once from one address accepted in ${elapsedSec.toFixed(2)} s, ${refused.length} refused with 429`);
  });

  it('takes the address again once its bucket has refilled', async () => {
    const again = await vi.waitFor(
      async () => {
        const [r] = await burst(w, 1, { localAddress: '127.0.0.5' });
        if (!r.ok) throw new Error(`still refused: ${r.status}`);
        return r;
      },
      { timeout: 10_000, interval: 250 },
    );
    expect(again.ok).toBe(true);
  });
});
