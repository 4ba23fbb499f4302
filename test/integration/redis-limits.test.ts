/**
 * A worker on a Redis with a password and a memory limit (policy noeviction), as the embedded
 * one runs: it authenticates through REDIS_URL without ever logging the password, and when Redis
 * is full it refuses what needs new memory with clear errors, keeps everyone connected, and
 * recovers by itself once memory is free again.
 */
import { Redis } from 'ioredis';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { connect, connectV1, type TestClient } from '../support/client';
import { uniquePrefix } from '../support/prefix';
import { startRedis, waitUntil, type ServerHandle } from '../support/servers';
import { startWorker, type WorkerHandle } from '../support/worker';

const PASSWORD = 'redis-limits-test-password-5678';

describe('Redis with a password and maxmemory (noeviction)', () => {
  let redis: ServerHandle;
  let admin: Redis;
  let w: WorkerHandle;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    redis = await startRedis({ password: PASSWORD, maxmemory: '64mb' });
    admin = new Redis(redis.url);
    w = await startWorker({ natsUrl: inject('natsUrl'), redisUrl: redis.url, prefix: uniquePrefix('oom'), id: 'oomW' });
  });

  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail' && w) console.log(`--- ${w.id} logs\n${w.logs.slice(-30).join('\n')}`);
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await w?.stop();
    admin?.disconnect();
    await redis?.stop();
  });

  it('refuses clients without the password', async () => {
    // A plain socket: what any local process could try.
    const reply = await new Promise<string>((resolve, reject) => {
      const s = net.connect(redis.port, '127.0.0.1', () => s.write('GET x\r\n'));
      s.once('data', (d) => {
        s.destroy();
        resolve(d.toString());
      });
      s.once('error', reject);
    });
    expect(reply).toMatch(/^-NOAUTH/);
    expect(await admin.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
  });

  it('when Redis is full: new users get "unavailable" and 1013, members keep chatting (without ids) and stay present; all recovers after', async () => {
    const alice = await connectV1(w.wsUrl, 'alice');
    const bob = await connectV1(w.wsUrl, 'bob');
    clients.push(alice, bob);
    const first = await alice.request({ type: 'message', text: 'before', ref: 'm0' }, (f) => f.type === 'ack');
    expect(typeof first.id).toBe('number');

    // Full: the limit just below what Redis already holds.
    for (let i = 0; i < 64; i++) await admin.set(`filler:${i}`, 'x'.repeat(16_384));
    const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
    await admin.config('SET', 'maxmemory', String(used - 256 * 1024));
    await expect(admin.set('probe', 'x')).rejects.toThrow(/OOM/);

    const carol = await connect(w.wsUrl, 'carol', { v1: true });
    clients.push(carol);
    const refused = await carol.waitFor((f) => f.type === 'error', { what: "carol's error" });
    expect(refused).toMatchObject({ code: 'unavailable', message: 'presence is unavailable; try again shortly' });
    expect(await carol.closed).toBe(1013);
    expect(carol.closeReason).toBe('presence unavailable');

    // History cannot grow: the message goes out live, without an id, and says so in the ack.
    const during = await alice.request({ type: 'message', text: 'during', ref: 'm1' }, (f) => f.type === 'ack' && f.ref === 'm1');
    expect(during.id).toBeNull();
    await bob.waitFor((f) => f.type === 'message' && f.text === 'during' && f.id === null);
    // Presence of members is refreshed (an existing claim needs no new memory): after two TTLs
    // (1.5 s each here) both are still listed, and nobody was announced as gone.
    await new Promise((r) => setTimeout(r, 3500));
    const users = await alice.request({ type: 'users', ref: 'u' }, (f) => f.type === 'users');
    expect(users.users).toEqual(['alice', 'bob']);
    expect(alice.frames.filter((f) => f.type === 'user_left' || (f.type === 'presence' && f.left.length > 0))).toEqual([]);
    expect(w.proc.exitCode).toBeNull();
    expect((await fetch(`${w.httpUrl}/healthz`)).status).toBe(200);
    expect(w.logs.some((l) => l.includes('OOM command not allowed'))).toBe(true);

    // Memory back: new users and ids come back without a restart.
    await admin.config('SET', 'maxmemory', '64mb');
    const dave = await connectV1(w.wsUrl, 'dave');
    clients.push(dave);
    const after = await alice.request({ type: 'message', text: 'after', ref: 'm2' }, (f) => f.type === 'ack' && f.ref === 'm2');
    expect(after.id).toBe(first.id + 1);
    await dave.waitFor((f) => f.type === 'message' && f.text === 'after' && f.id === after.id);

    // The password never reached the log (the URL is logged masked).
    const log = w.logs.join('\n');
    expect(log).not.toContain(PASSWORD);
    expect(log).toContain('redis://:***@127.0.0.1');
  });
});

describe('a worker with the wrong Redis password', () => {
  it('waits, not ready, says why, and does not log the password it has', async () => {
    const redis = await startRedis({ password: PASSWORD });
    const wrong = 'not-the-password-but-also-secret';
    const w = await startWorker({
      natsUrl: inject('natsUrl'),
      redisUrl: `redis://:${wrong}@127.0.0.1:${redis.port}`,
      prefix: uniquePrefix('badpass'),
      id: 'badPass',
      waitReady: false,
    });
    try {
      await waitUntil(() => w.logs.some((l) => l.includes('waiting for Redis')), 20_000, 'the worker to say it waits for Redis');
      const r = await fetch(`${w.httpUrl}/readyz`);
      expect(r.status).toBe(503);
      expect(await r.json()).toMatchObject({ redis: false });
      expect(w.logs.join('\n')).toMatch(/WRONGPASS|invalid username-password/);
      expect(w.logs.join('\n')).not.toContain(wrong);
    } finally {
      await w.stop();
      await redis.stop();
    }
  });
});
