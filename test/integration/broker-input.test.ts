/**
 * What arrives from NATS is input like any other: two real workers on a real nats-server, and a
 * stranger on the same server publishing garbage into a room subject and a worker's route. The
 * workers drop and count it, and chat (room messages, direct messages, new connections) goes on.
 */
import { connect as natsConnect, type NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectV1, type TestClient } from '../support/client';
import { uniquePrefix } from '../support/prefix';
import { startNats, waitUntil, type NatsHandle } from '../support/servers';
import { startWorker, type WorkerHandle } from '../support/worker';

const enc = new TextEncoder();
const route = (prefix: string, worker: string) => `${prefix}.worker.${Buffer.from(worker).toString('base64url')}`;

async function metrics(w: WorkerHandle): Promise<string> {
  return (await fetch(`${w.httpUrl}/metrics`)).text();
}

/** The sum of every sample of `name` whose labels include each of `labels`. */
function total(text: string, name: string, ...labels: string[]): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name && labels.every((l) => (m[2] ?? '').includes(l))) sum += Number(m[3]);
  }
  return sum;
}

const DROPPED = 'chatfabric_broker_events_dropped_total';

describe('garbage published into the fabric', () => {
  const prefix = uniquePrefix('garbage');
  let a: WorkerHandle;
  let b: WorkerHandle;
  let stranger: NatsConnection;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    [a, b] = await Promise.all([
      startWorker({ natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix, id: 'garbageA' }),
      startWorker({ natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix, id: 'garbageB' }),
    ]);
    stranger = await natsConnect({ servers: inject('natsUrl'), name: 'stranger' });
  });

  afterEach((ctx) => {
    if (ctx.task.result?.state !== 'fail') return;
    for (const w of [a, b]) if (w) console.log(`--- ${w.id} logs\n${w.logs.slice(-30).join('\n')}`);
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await stranger?.close();
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('drops and counts malformed room events and user events, and chat keeps flowing between the workers', async () => {
    const alice = await connectV1(a.wsUrl, 'alice');
    const bob = await connectV1(b.wsUrl, 'bob');
    clients.push(alice, bob);
    await alice.request({ type: 'message', text: 'before', ref: 'm0' }, (f) => f.type === 'ack');
    await bob.waitFor((f) => f.type === 'message' && f.text === 'before');

    const ts = new Date().toISOString();
    const message = { id: 1, room: 'global', from: 'mallory', text: 'hi', ts };
    const roomGarbage: unknown[] = [
      '{"kind":"message"}', // the reproduction: the handler used to throw on it
      'not json at all',
      '[]',
      'null',
      '{"kind":"presence"}',
      '{"kind":"nope","room":"global"}',
      { kind: 'message', origin: 'x', message: { ...message, text: '\u001b[2J\u001b[31mred' } }, // terminal escapes
      { kind: 'message', origin: 'x', message: { ...message, room: 'elsewhere' } }, // not this subject's room
      { kind: 'message', origin: 'x', message: { ...message, from: 'no.dots' } },
      { kind: 'message', origin: 'x', message: { ...message, id: -3 } },
      { kind: 'message', origin: 'x', message: { ...message, ts: 'yesterday' } },
      { kind: 'message', origin: 'x', message: { ...message, text: 'x'.repeat(5000) } },
      { kind: 'presence', room: 'global', joined: [42], left: [], members: 1, ts },
      { kind: 'presence', room: 'global', joined: [], left: [{ user: 'bob', reason: 'eaten' }], members: 1, ts },
      { kind: 'left', room: 'global', user: 'bob', ts },
    ];
    for (const g of roomGarbage) stranger.publish(`${prefix}.room.global`, enc.encode(typeof g === 'string' ? g : JSON.stringify(g)));
    // A binary payload that is not even UTF-8.
    stranger.publish(`${prefix}.room.global`, new Uint8Array([0xff, 0xfe, 0x00, 0x7b]));
    await stranger.flush();

    const userGarbage: unknown[] = [
      'garbage',
      '{}',
      { user: 'alice' },
      { user: 'alice', event: { kind: 'direct' } },
      { user: 'alice', event: { kind: 'direct', message: { id: 'x', from: 'mallory', to: 'alice', text: '\u0007bell', ts } } },
      { user: 'alice', event: { kind: 'direct', message: { id: 'x', from: 'mallory', to: 'carol', text: 'not for alice', ts } } },
      { user: 'alice', event: { kind: 'replaced', by: 7, room: 'global' } },
      { user: 'bad user', event: { kind: 'replaced', by: 'x', room: 'global' } },
    ];
    for (const w of ['garbageA', 'garbageB']) {
      for (const g of userGarbage) {
        const reply = await stranger.request(route(prefix, w), enc.encode(typeof g === 'string' ? g : JSON.stringify(g)), { timeout: 5000 });
        // Answered (not delivered): the route is alive and did not hand the event to anyone.
        expect(new TextDecoder().decode(reply.data), `reply of ${w} to ${JSON.stringify(g)}`).toBe('0');
      }
    }

    // Counted on both workers, by reason.
    const roomCount = roomGarbage.length + 1;
    for (const w of [a, b]) {
      await waitUntil(async () => total(await metrics(w), DROPPED, 'source="room"') >= roomCount, 10_000, `${w.id} to count the room garbage`);
      if (w === a) console.log(`[broker-input] ${w.id}: ${roomCount} room and ${userGarbage.length} route events dropped and counted; ${(await metrics(w)).split('\n').filter((l) => l.startsWith(DROPPED)).join('; ')}`);
      const m = await metrics(w);
      expect(total(m, DROPPED, 'source="room"')).toBe(roomCount);
      expect(total(m, DROPPED, 'source="worker"')).toBe(userGarbage.length);
      expect(total(m, DROPPED, 'reason="bad_json"')).toBeGreaterThanOrEqual(3);
      expect(total(m, DROPPED, 'reason="invalid"')).toBeGreaterThanOrEqual(roomGarbage.length - 2);
    }
    // Nothing of it reached a client.
    expect(alice.frames.concat(bob.frames).filter((f) => f.from === 'mallory' || f.text === 'hi')).toEqual([]);
    expect(alice.closeCode ?? bob.closeCode).toBeNull();

    // Room messages both ways, direct messages both ways, and a new connection.
    const from = bob.frames.length;
    await alice.request({ type: 'message', text: 'after the garbage', ref: 'm1' }, (f) => f.type === 'ack' && f.ref === 'm1');
    await bob.waitFor((f) => f.type === 'message' && f.text === 'after the garbage', { from, timeoutMs: 10_000 });
    await bob.request({ type: 'message', text: 'still here', ref: 'm2' }, (f) => f.type === 'ack' && f.ref === 'm2');
    await alice.waitFor((f) => f.type === 'message' && f.text === 'still here', { timeoutMs: 10_000 });
    const dm = await bob.request({ type: 'direct', to: 'alice', text: 'psst', ref: 'd1' }, (f) => f.ref === 'd1', 10_000);
    expect(dm.type).toBe('ack');
    await alice.waitFor((f) => f.type === 'direct' && f.text === 'psst');
    const carol = await connectV1(a.wsUrl, 'carol');
    clients.push(carol);
    await carol.request({ type: 'message', text: 'carol here', ref: 'c1' }, (f) => f.type === 'ack');
    await bob.waitFor((f) => f.type === 'message' && f.text === 'carol here', { timeoutMs: 10_000 });

    for (const w of [a, b]) {
      const r = await fetch(`${w.httpUrl}/readyz`);
      expect(r.status).toBe(200);
      expect(await r.json()).toMatchObject({ status: 'ready', subscriptions: true });
    }
    // Logged, but not once per event: at most one line per reason and source in the interval.
    const dropLines = a.logs.filter((l) => l.includes('dropped'));
    expect(dropLines.length).toBeGreaterThan(0);
    expect(dropLines.length).toBeLessThanOrEqual(4);
  });
});

describe('a subscription that ends under a worker', () => {
  const prefix = uniquePrefix('subgone');
  const password = 'subgone-test-password-1234';
  // The permissions docs/operations.md suggests for an external server, plus the deny list.
  const allow = JSON.stringify([`${prefix}.>`, '_INBOX.>']);
  const config = (deny: string[]) => `
authorization {
  users = [
    { user: cfworker, password: "${password}", permissions: { subscribe: { allow: ${allow}, deny: ${JSON.stringify(deny)} }, publish: { allow: ${allow} } } }
  ]
}
`;
  let nats: NatsHandle;
  let w: WorkerHandle;
  let other: WorkerHandle;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    nats = await startNats({ config: config([]) });
    const env = { NATS_USER: 'cfworker', NATS_PASSWORD: password };
    [w, other] = await Promise.all([
      startWorker({ natsUrl: nats.url, redisUrl: inject('redisUrl'), prefix, id: 'subgone', env }),
      startWorker({ natsUrl: nats.url, redisUrl: inject('redisUrl'), prefix, id: 'subgone2', env }),
    ]);
  });

  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail' && w) console.log(`--- ${w.id} logs\n${w.logs.slice(-30).join('\n')}`);
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all([w?.stop(), other?.stop()]);
    await nats?.stop();
  });

  const readyz = async () => {
    const r = await fetch(`${w.httpUrl}/readyz`);
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };

  it('works with only its own subjects allowed: rooms and direct messages across workers', async () => {
    const alice = await connectV1(w.wsUrl, 'alice');
    const zoe = await connectV1(other.wsUrl, 'zoe');
    clients.push(alice, zoe);
    await alice.request({ type: 'message', text: 'hello zoe', ref: 'h' }, (f) => f.type === 'ack');
    await zoe.waitFor((f) => f.type === 'message' && f.text === 'hello zoe');
    const ack = await zoe.request({ type: 'direct', to: 'alice', text: 'hi alice', ref: 'd' }, (f) => f.ref === 'd');
    expect(ack.type).toBe('ack');
    await alice.waitFor((f) => f.type === 'direct' && f.text === 'hi alice');
  });

  it('goes not ready when the server ends a room subscription, and ready again once the room is given up', async () => {
    const alice = clients[0];
    await expect(readyz()).resolves.toMatchObject({ status: 200, body: { subscriptions: true, nats: true } });
    // The server withdraws the worker's permission to the room's subject and drops the subscription.
    const withdrawn = performance.now();
    await nats.reload(config([`${prefix}.room.global`]));
    await waitUntil(async () => (await readyz()).status === 503, 10_000, '/readyz to answer 503');
    const notReadyMs = performance.now() - withdrawn;
    expect(await readyz()).toEqual({
      status: 503,
      body: { status: 'not ready', worker: 'subgone', nats: true, redis: true, subscriptions: false, draining: false },
    });
    expect(w.logs.some((l) => l.includes('a NATS subscription ended unexpectedly') && l.includes('"subscription":"global"'))).toBe(true);
    // Not ready means no new connections here (a balancer sends them to a worker that is).
    await expect(connectV1(w.wsUrl, 'bob')).rejects.toMatchObject({ status: 503 });

    // The worker gives the room up when its last member leaves: the lost subscription no longer matters.
    await nats.reload(config([]));
    const givenUp = performance.now();
    await alice.request({ type: 'join', room: 'elsewhere', ref: 'j' }, (f) => f.type === 'history' && f.ref === 'j');
    await waitUntil(async () => (await readyz()).status === 200, 10_000, '/readyz to answer 200 again');
    console.log(
      `[broker-input] /readyz 503 ${notReadyMs.toFixed(0)} ms after the server withdrew the subscription (reload included); ` +
        `200 again ${(performance.now() - givenUp).toFixed(0)} ms after the last member left the room (ROOM_LINGER_MS 100)`,
    );
    await alice.request({ type: 'leave', ref: 'l' }, (f) => f.type === 'history' && f.ref === 'l');
    const bob = await connectV1(w.wsUrl, 'bob');
    clients.push(bob);
    await alice.request({ type: 'message', text: 'global works again', ref: 'm' }, (f) => f.type === 'ack');
    await bob.waitFor((f) => f.type === 'message' && f.text === 'global works again');
    for (const x of [w, other]) expect(x.logs.join('\n')).not.toContain(password);
  });
});
