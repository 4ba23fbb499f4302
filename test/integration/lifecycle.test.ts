/**
 * A worker's life with real processes: health endpoints and metrics, graceful drain on SIGTERM,
 * starting before NATS and Redis are up, losing Redis while running (chat goes on, presence
 * and history come back), and refusing an invalid configuration.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { connect, connectLegacy, connectV1, type Frame, type TestClient } from '../support/client';
import { uniquePrefix } from '../support/prefix';
import { freePort, startNats, startRedis, waitUntil, type ServerHandle } from '../support/servers';
import { MAIN, ROOT, startWorker, type WorkerHandle } from '../support/worker';

const TTL_MS = 1500;
const HEARTBEAT_MS = 500;

async function getJson(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url);
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body };
}

async function metrics(w: WorkerHandle): Promise<string> {
  const res = await fetch(`${w.httpUrl}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

/** The value of one sample (optionally with a label matcher), or undefined when absent. */
function sample(text: string, name: string, label = ''): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name && (m[2] ?? '').includes(label)) return Number(m[3]);
  }
  return undefined;
}

const usersReply = (f: Frame) => f.type === 'system_message' && Array.isArray(f.users);
/** list_users through a legacy client. */
async function listUsers(c: TestClient): Promise<string[]> {
  return (await c.request({ type: 'list_users' }, usersReply)).users;
}

function dumpOnFailure(workers: () => (WorkerHandle | undefined)[]) {
  afterEach((ctx) => {
    if (ctx.task.result?.state !== 'fail') return;
    for (const w of workers()) if (w) console.log(`--- ${w.id} logs\n${w.logs.slice(-40).join('\n')}`);
  });
}

// ---------------------------------------------------------------------------------------------

describe('health, readiness, metrics and graceful drain', () => {
  let a: WorkerHandle; // drained
  let b: WorkerHandle; // stays
  const clients: TestClient[] = [];
  const DRAIN_MS = 3000;

  beforeAll(async () => {
    const prefix = uniquePrefix('drain');
    [a, b] = await Promise.all([
      startWorker({ natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix, id: 'drainA', env: { DRAIN_TIMEOUT_MS: String(DRAIN_MS) } }),
      startWorker({ natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix, id: 'drainB' }),
    ]);
  });
  dumpOnFailure(() => [a, b]);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('answers /healthz, /readyz and /metrics with the expected content', async () => {
    const health = await getJson(`${a.httpUrl}/healthz`);
    expect(health).toEqual({ status: 200, body: { status: 'ok', worker: 'drainA' } });
    const ready = await getJson(`${a.httpUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready', nats: true, redis: true, draining: false });

    const u = await connectV1(a.wsUrl, 'metricsU');
    const v = await connectLegacy(b.wsUrl, 'metricsV');
    clients.push(u, v);
    await u.request({ type: 'message', text: 'count me', ref: 'm' }, (f) => f.type === 'ack');
    await v.waitFor((f) => f.type === 'chat_message' && f.content === 'count me');
    await u.close();
    // Let the gauge settle back; then the one remaining connection on B counts.
    await waitUntil(async () => sample(await metrics(a), 'chatfabric_connections') === 0, 5000, 'A\'s connections gauge back to 0');

    const ma = await metrics(a);
    const mb = await metrics(b);
    for (const name of ['chatfabric_connections', 'chatfabric_messages_in_total', 'chatfabric_delivery_latency_seconds']) {
      expect(ma).toContain(`# TYPE ${name}`);
    }
    expect(sample(ma, 'chatfabric_nats_connected')).toBe(1);
    expect(sample(ma, 'chatfabric_redis_connected')).toBe(1);
    expect(sample(mb, 'chatfabric_nats_connected')).toBe(1);
    expect(sample(mb, 'chatfabric_redis_connected')).toBe(1);
    expect(sample(ma, 'chatfabric_messages_in_total', 'kind="say"')).toBe(1);
    expect(sample(mb, 'chatfabric_connections')).toBe(1);
    // Both workers fanned the message out (A to nobody, B to metricsV): each observed its latency.
    expect(sample(ma, 'chatfabric_delivery_latency_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(sample(mb, 'chatfabric_delivery_latency_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(sample(mb, 'chatfabric_delivery_latency_seconds_bucket', 'le="+Inf"')).toBe(sample(mb, 'chatfabric_delivery_latency_seconds_count'));
    // Unknown paths and methods.
    expect((await fetch(`${a.httpUrl}/nope`)).status).toBe(404);
    expect((await fetch(`${a.httpUrl}/ws`)).status).toBe(426);
  });

  it('on SIGTERM closes clients with 1001, releases presence at once, announces leaves and exits 0 within DRAIN_TIMEOUT_MS', async () => {
    // Drained users on A: legacy and v1 in global, v1 in dev.
    const dl = await connectLegacy(a.wsUrl, 'drainL');
    const dv = await connectV1(a.wsUrl, 'drainV');
    const dd = await connectV1(a.wsUrl, 'drainD', { room: 'dev' });
    // Remaining members on B.
    const keepL = await connectLegacy(b.wsUrl, 'keepL');
    const keepV = await connectV1(b.wsUrl, 'keepV');
    const keepD = await connectV1(b.wsUrl, 'keepD', { room: 'dev' });
    clients.push(dl, dv, dd, keepL, keepV, keepD);
    const drained = ['drainL', 'drainV', 'drainD'];
    const usersBefore = await listUsers(keepL);
    expect(usersBefore).toEqual(expect.arrayContaining([...drained, 'keepL', 'keepV', 'keepD']));
    const roomsBefore = (await keepL.request({ type: 'list_rooms' }, (f) => f.type === 'system_message' && Array.isArray(f.rooms))).rooms;

    const watchers = [keepL, keepV, keepD];
    const from = new Map(watchers.map((c) => [c, c.frames.length]));
    const t0 = Date.now();
    const code = await a.stop(); // SIGTERM
    const drainMs = Date.now() - t0;
    // Presence on B, asked once, right away: no waiting for the TTL.
    const usersAfter = await listUsers(keepL);
    const askedAfterMs = Date.now() - t0;

    expect(code).toBe(0);
    expect(drainMs).toBeLessThan(DRAIN_MS);
    for (const c of [dl, dv, dd]) {
      expect(await c.closed).toBe(1001);
    }
    expect(usersAfter).toEqual(usersBefore.filter((u) => !drained.includes(u)));
    // The entries were refreshed at most one heartbeat before SIGTERM, so they could not have expired yet.
    expect(askedAfterMs).toBeLessThan(TTL_MS - HEARTBEAT_MS);
    expect(a.logs.some((l) => l.includes('"draining"'))).toBe(true);
    expect(a.logs.some((l) => l.includes('drained; bye'))).toBe(true);

    // Leave notices, reason "disconnected" (not "timeout": nobody waited for the reaper).
    const expected: [TestClient, string, (f: Frame) => boolean][] = [
      [keepL, 'drainL', (f) => f.type === 'system_message' && f.content === 'drainL left the room' && f.room === 'global'],
      [keepL, 'drainV', (f) => f.type === 'system_message' && f.content === 'drainV left the room' && f.room === 'global'],
      [keepV, 'drainL', (f) => f.type === 'user_left' && f.user === 'drainL' && f.room === 'global'],
      [keepV, 'drainV', (f) => f.type === 'user_left' && f.user === 'drainV' && f.room === 'global'],
      [keepD, 'drainD', (f) => f.type === 'user_left' && f.user === 'drainD' && f.room === 'dev'],
    ];
    for (const [c, , pred] of expected) await c.waitFor(pred, { from: from.get(c), what: 'a leave notice' });
    for (const c of [keepV, keepD]) {
      for (const f of c.frames.slice(from.get(c)).filter((x) => x.type === 'user_left')) expect(f.reason).toBe('disconnected');
    }
    // Exactly once, also after the TTL has passed (a failed release would add a "timeout" leave).
    // Absence needs an observation window; a sentinel then proves the streams still flow.
    const quietUntil = t0 + 2 * TTL_MS;
    await waitUntil(() => Date.now() >= quietUntil, 3 * TTL_MS, 'the quiet period');
    await keepV.request({ type: 'message', text: 'sentinel', ref: 's' }, (f) => f.type === 'ack');
    await keepL.waitFor((f) => f.type === 'chat_message' && f.content === 'sentinel');
    for (const [c, user] of expected) {
      const leaves = c.frames
        .slice(from.get(c))
        .filter((f) => (f.type === 'user_left' && f.user === user) || (f.type === 'system_message' && f.content === `${user} left the room`));
      expect(leaves, `${c.username}: leaves of ${user}`).toHaveLength(1);
    }
    const rooms = (await keepL.request({ type: 'list_rooms' }, (f) => f.type === 'system_message' && Array.isArray(f.rooms))).rooms;
    const count = (rs: { name: string; users: number }[], name: string) => rs.find((r) => r.name === name)?.users;
    expect(count(roomsBefore, 'dev')).toBe(2);
    expect(rooms).toEqual([
      { name: 'dev', users: 1 },
      { name: 'global', users: count(roomsBefore, 'global')! - 2 },
    ]);
    console.log(`[lifecycle] SIGTERM -> exit 0 in ${drainMs} ms (budget ${DRAIN_MS}); drained users absent from list_users on B ${askedAfterMs} ms after SIGTERM`);
  });
});

// ---------------------------------------------------------------------------------------------

describe('readiness while a drain is in progress', () => {
  let redis: ServerHandle;
  let w: WorkerHandle;
  let paused = false;
  const clients: TestClient[] = [];
  const DRAIN_MS = 6000;

  beforeAll(async () => {
    redis = await startRedis();
    w = await startWorker({
      natsUrl: inject('natsUrl'),
      redisUrl: redis.url,
      prefix: uniquePrefix('slowdrain'),
      id: 'slowDrain',
      env: { DRAIN_TIMEOUT_MS: String(DRAIN_MS), REDIS_COMMAND_TIMEOUT_MS: '1000' },
    });
  });
  dumpOnFailure(() => [w]);

  afterAll(async () => {
    if (paused) process.kill(redis.pid, 'SIGCONT');
    await Promise.all(clients.map((c) => c.close()));
    await w?.stop();
    await redis?.stop();
  });

  it('answers /readyz with 503 (draining: true), never 200, until the worker exits', async () => {
    const c = await connectLegacy(w.wsUrl, 'slowU');
    clients.push(c);
    // A Redis that stops answering makes the drain's presence release take REDIS_COMMAND_TIMEOUT_MS,
    // which leaves time to ask /readyz while the worker drains.
    process.kill(redis.pid, 'SIGSTOP');
    paused = true;
    const t0 = Date.now();
    w.proc.kill('SIGTERM');
    // Ask only once the worker has begun draining (it logs "draining" first thing).
    await waitUntil(() => w.logs.some((l) => l.includes('"msg":"draining"')), 5000, 'the "draining" log line');
    const answers: string[] = [];
    let exited = false;
    void w.exited.then(() => (exited = true));
    while (!exited && Date.now() - t0 < DRAIN_MS + 2000) {
      try {
        const r = await getJson(`${w.httpUrl}/readyz`);
        answers.push(`${r.status}${r.body?.draining ? ' draining' : ''}`);
      } catch (err) {
        answers.push(String((err as { cause?: { code?: string } }).cause?.code ?? err));
      }
      await new Promise((r) => setTimeout(r, 50)); // polling interval
    }
    const code = await w.exited;
    const drainMs = Date.now() - t0;
    process.kill(redis.pid, 'SIGCONT');
    paused = false;
    expect(await c.closed).toBe(1001);
    expect(code).toBe(0);
    expect(drainMs).toBeLessThan(DRAIN_MS);
    const summary = [...new Set(answers)].join(', ');
    console.log(`[lifecycle] /readyz answers during a ${drainMs} ms drain: ${summary}`);
    expect(answers.filter((x) => x.startsWith('200')), summary).toEqual([]);
    expect(answers.filter((x) => x === '503 draining').length, `expected 503 while draining; got ${summary}`).toBeGreaterThan(0);
  });
});

// ---------------------------------------------------------------------------------------------

describe('starting while NATS and Redis are down', () => {
  let w: WorkerHandle;
  let nats: ServerHandle | undefined;
  let redis: ServerHandle | undefined;
  const clients: TestClient[] = [];

  dumpOnFailure(() => [w]);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await w?.stop();
    await Promise.all([nats?.stop(), redis?.stop()]);
  });

  it('waits, logging why, answers 503 on /readyz, and serves chat once both are started', async () => {
    const [natsPort, redisPort] = [await freePort(), await freePort()];
    w = await startWorker({
      natsUrl: `nats://127.0.0.1:${natsPort}`,
      redisUrl: `redis://127.0.0.1:${redisPort}`,
      prefix: uniquePrefix('depsdown'),
      id: 'depsDown',
      waitReady: false,
    });
    const t0 = Date.now();
    await waitUntil(() => w.logs.some((l) => l.includes('waiting for NATS')), 10_000, 'a "waiting for NATS" log line');
    await waitUntil(() => w.logs.some((l) => l.includes('waiting for Redis')), 10_000, 'a "waiting for Redis" log line');
    const natsLine = JSON.parse(w.logs.find((l) => l.includes('waiting for NATS'))!);
    expect(natsLine.level).toBe(40); // warn
    expect(JSON.stringify(natsLine)).toContain(`127.0.0.1:${natsPort}`);
    expect(JSON.stringify(JSON.parse(w.logs.find((l) => l.includes('waiting for Redis'))!))).toContain(`127.0.0.1:${redisPort}`);

    expect(w.proc.exitCode).toBeNull();
    expect((await getJson(`${w.httpUrl}/healthz`)).status).toBe(200);
    const notReady = await getJson(`${w.httpUrl}/readyz`);
    expect(notReady.status).toBe(503);
    expect(notReady.body).toMatchObject({ status: 'not ready', nats: false, redis: false });
    await expect(connect(w.wsUrl, 'early')).rejects.toMatchObject({ status: 503 });

    // NATS first: still not ready, Redis is missing.
    nats = await startNats({ port: natsPort });
    await waitUntil(() => w.logs.some((l) => l.includes('NATS connected')), 10_000, 'NATS connected');
    expect((await getJson(`${w.httpUrl}/readyz`)).status).toBe(503);
    expect(w.proc.exitCode).toBeNull();

    redis = await startRedis({ port: redisPort });
    const tRedis = Date.now();
    await waitUntil(async () => (await getJson(`${w.httpUrl}/readyz`)).status === 200, 10_000, '/readyz 200');
    const readyMs = Date.now() - tRedis;
    const ready = await getJson(`${w.httpUrl}/readyz`);
    expect(ready.body).toMatchObject({ status: 'ready', nats: true, redis: true, draining: false });
    const m = await metrics(w);
    expect(sample(m, 'chatfabric_nats_connected')).toBe(1);
    expect(sample(m, 'chatfabric_redis_connected')).toBe(1);

    const alice = await connectV1(w.wsUrl, 'alice');
    const bob = await connectLegacy(w.wsUrl, 'bob');
    clients.push(alice, bob);
    const ack = await alice.request({ type: 'message', text: 'finally', ref: 1 }, (f) => f.type === 'ack');
    expect(ack.id).toBe(1);
    expect(await bob.waitFor((f) => f.type === 'chat_message')).toMatchObject({ sender: 'alice', content: 'finally', id: 1 });
    expect(await listUsers(bob)).toEqual(['alice', 'bob']);
    console.log(`[lifecycle] deps down: worker waited ${tRedis - t0} ms; ready ${readyMs} ms after Redis started`);
  });
});

// ---------------------------------------------------------------------------------------------

describe('Redis lost while workers run', () => {
  let redis: ServerHandle;
  let a: WorkerHandle;
  let b: WorkerHandle;
  let alice: TestClient; // v1 on A
  let bob: TestClient; // v1 on B, joined after the first messages
  let carol: TestClient; // legacy on B
  const clients: TestClient[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    const prefix = uniquePrefix('redislost');
    [a, b] = await Promise.all([
      startWorker({ natsUrl: inject('natsUrl'), redisUrl: redis.url, prefix, id: 'rlA' }),
      startWorker({ natsUrl: inject('natsUrl'), redisUrl: redis.url, prefix, id: 'rlB' }),
    ]);
  });
  dumpOnFailure(() => [a, b]);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  it('keeps chat flowing between workers with id null while Redis is down, and says so in the log', async () => {
    alice = await connectV1(a.wsUrl, 'alice');
    clients.push(alice);
    for (let i = 1; i <= 3; i++) {
      expect((await alice.request({ type: 'message', text: `pre${i}`, ref: `p${i}` }, (f) => f.type === 'ack')).id).toBe(i);
    }
    bob = await connectV1(b.wsUrl, 'bob');
    carol = await connectLegacy(b.wsUrl, 'carol');
    clients.push(bob, carol);
    expect(bob.ofType('history')[0].messages.map((m: Frame) => m.id)).toEqual([1, 2, 3]);

    await redis.kill();
    for (const w of [a, b]) {
      await waitUntil(() => w.logs.some((l) => /Redis connection (lost|closed)/.test(l)), 5000, `${w.id} to log that Redis is lost`);
      await waitUntil(async () => (await getJson(`${w.httpUrl}/readyz`)).status === 503, 5000, `${w.id} /readyz 503`);
    }
    const r = await getJson(`${a.httpUrl}/readyz`);
    expect(r.body).toMatchObject({ nats: true, redis: false });
    expect(sample(await metrics(a), 'chatfabric_redis_connected')).toBe(0);

    const ack = await alice.request({ type: 'message', text: 'during1', ref: 'd1' }, (f) => f.ref === 'd1');
    expect(ack).toMatchObject({ type: 'ack', id: null });
    expect(await bob.waitFor((f) => f.type === 'message' && f.text === 'during1')).toMatchObject({ id: null, from: 'alice', room: 'global' });
    expect(await carol.waitFor((f) => f.type === 'chat_message' && f.content === 'during1')).toMatchObject({ id: null, sender: 'alice' });
    const ack2 = await bob.request({ type: 'message', text: 'during2', ref: 'd2' }, (f) => f.ref === 'd2');
    expect(ack2).toMatchObject({ type: 'ack', id: null });
    await alice.waitFor((f) => f.type === 'message' && f.text === 'during2' && f.id === null);
    // Presence reads fail politely.
    const err = await carol.request({ type: 'list_users' }, (f) => f.type === 'system_message' && typeof f.code === 'string');
    expect(err).toMatchObject({ code: 'unavailable' });
    expect(err.content).toMatch(/^error: /);
    // New connections are refused before the upgrade while the worker is not ready.
    await expect(connect(b.wsUrl, 'latecomer')).rejects.toMatchObject({ status: 503 });
    expect(alice.closeCode).toBeNull();
    expect(bob.closeCode).toBeNull();
    expect(carol.closeCode).toBeNull();
  });

  it('re-asserts presence within about one heartbeat after Redis is back on the same port', async () => {
    const tStart = Date.now();
    redis = await startRedis({ port: redis.port });
    let readyAt = 0;
    await waitUntil(
      async () => {
        for (const w of [a, b]) if ((await getJson(`${w.httpUrl}/readyz`)).status !== 200) return false;
        readyAt = Date.now();
        return true;
      },
      10_000,
      'both workers ready again',
    );
    let usersAt = 0;
    await waitUntil(
      async () => {
        const reply = await carol.request({ type: 'list_users' }, (f) => f.type === 'system_message' && (Array.isArray(f.users) || !!f.code));
        if (!Array.isArray(reply.users) || reply.users.join() !== 'alice,bob,carol') return false;
        usersAt = Date.now();
        return true;
      },
      5000,
      'list_users to show alice, bob and carol again',
    );
    const rooms = (await carol.request({ type: 'list_rooms' }, (f) => f.type === 'system_message' && Array.isArray(f.rooms))).rooms;
    expect(rooms).toEqual([{ name: 'global', users: 3 }]);
    const afterReadyMs = usersAt - readyAt;
    console.log(
      `[lifecycle] Redis restarted: workers ready ${readyAt - tStart} ms after restart; presence re-asserted ${afterReadyMs} ms after ready (heartbeat ${HEARTBEAT_MS} ms)`,
    );
    expect(afterReadyMs).toBeLessThanOrEqual(HEARTBEAT_MS + 400);
    // Nobody was disconnected by the outage.
    for (const c of [alice, bob, carol]) expect(c.closeCode).toBeNull();
  });

  it('resumes history appends with numeric ids, delivered to legacy and v1 members', async () => {
    const ack = await alice.request({ type: 'message', text: 'after1', ref: 'a1' }, (f) => f.ref === 'a1');
    expect(ack.type).toBe('ack');
    expect(ack.id).toBe(1); // the restarted Redis (no persistence) numbers the room from 1 again
    const ack2 = await alice.request({ type: 'message', text: 'after2', ref: 'a2' }, (f) => f.ref === 'a2');
    expect(ack2.id).toBe(ack.id + 1);
    const c1 = await carol.waitFor((f) => f.type === 'chat_message' && f.content === 'after1');
    expect(c1.id).toBe(ack.id);
    await carol.waitFor((f) => f.type === 'chat_message' && f.content === 'after2' && f.id === ack2.id);
    // A v1 user who joins now gets the new history.
    const dave = await connectV1(b.wsUrl, 'dave');
    clients.push(dave);
    expect(dave.ofType('history')[0].messages.map((m: Frame) => m.text)).toEqual(expect.arrayContaining(['after1', 'after2']));
  });

  it('delivers post-restart messages to a v1 member whose last history id is above the new ids', async () => {
    // bob joined when the room's history ended at id 3; the restarted Redis numbers from 1 again,
    // so after1 and after2 (ids 1 and 2) and the next one (id 3) must reach him all the same.
    const s1 = await alice.request({ type: 'message', text: 'after3', ref: 'a3' }, (f) => f.ref === 'a3');
    const s2 = await alice.request({ type: 'message', text: 'after4', ref: 'a4' }, (f) => f.ref === 'a4');
    expect([s1.id, s2.id]).toEqual([3, 4]);
    await carol.waitFor((f) => f.type === 'chat_message' && f.content === 'after4');
    await bob.waitFor((f) => f.type === 'message' && f.text === 'after4'); // id 4 is above bob's old history
    const got = bob.frames.filter((f) => f.type === 'message').map((f) => `${f.text}#${f.id}`);
    expect(got).toEqual(['during1#null', 'after1#1', 'after2#2', 'after3#3', 'after4#4']);
  });
});

// ---------------------------------------------------------------------------------------------

describe('invalid configuration', () => {
  const procs: ChildProcess[] = [];

  afterAll(() => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  });

  function run(env: Record<string, string>): Promise<{ code: number | null; stderr: string; stdout: string; ms: number }> {
    const t0 = Date.now();
    const p = spawn(process.execPath, [MAIN], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '',
        HOST: '127.0.0.1',
        NATS_URL: inject('natsUrl'),
        REDIS_URL: inject('redisUrl'),
        NATS_SUBJECT_PREFIX: uniquePrefix('badcfg'),
        ...env,
      },
    });
    procs.push(p);
    let stderr = '';
    let stdout = '';
    p.stderr!.on('data', (d) => (stderr += d));
    p.stdout!.on('data', (d) => (stdout += d));
    return new Promise((resolve) => p.once('close', (code) => resolve({ code, stderr, stdout, ms: Date.now() - t0 })));
  }

  it.each([
    ['PORT=abc', { PORT: 'abc' }, /port/i],
    ['REDIS_URL=http://x', { REDIS_URL: 'http://x', PORT: '0' }, /redis:\/\//],
    ['PRESENCE_TTL_MS not above PRESENCE_HEARTBEAT_MS', { PORT: '0', PRESENCE_TTL_MS: '500', PRESENCE_HEARTBEAT_MS: '500' }, /PRESENCE_TTL_MS/],
  ])('%s -> exit code 2 with a clear message on stderr', async (_name, env, pattern) => {
    const r = await run(env);
    expect(r.code, `stderr: ${r.stderr}\nstdout: ${r.stdout}`).toBe(2);
    expect(r.stderr).toMatch(/^chatfabric: invalid configuration: /);
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr.trim().split('\n')).toHaveLength(1); // one line, no stack trace
    expect(r.stdout).not.toContain('listening');
  });
});
