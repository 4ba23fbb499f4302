import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ChatMessage } from '../../src/protocol';
import { ChatClient } from '../../tui/core/client';
import { uniquePrefix } from '../support/prefix';
import { waitUntil } from '../support/servers';
import { startWorker, type WorkerHandle } from '../support/worker';

/** The headless client core against real workers on real NATS and Redis. */
describe('client core', () => {
  const prefix = uniquePrefix('core');
  let a: WorkerHandle;
  let b: WorkerHandle;
  const extra: WorkerHandle[] = [];
  const clients: ChatClient[] = [];
  const make = (url: string, username: string, room?: string) => {
    const c = new ChatClient({ url, username, room, backoff: { baseMs: 50, capMs: 500 } });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    [a, b] = await Promise.all([
      startWorker({ natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix, id: 'CA' }),
      startWorker({ natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix, id: 'CB' }),
    ]);
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all([a, b, ...extra].map((w) => w?.stop()));
  });

  it('speaks every request across workers', async () => {
    const ann = make(a.wsUrl, 'ann');
    const ben = make(b.wsUrl, 'ben');
    await ann.connect();
    await ben.connect();
    expect([ann.worker, ben.worker]).toEqual(['CA', 'CB']);
    const got: ChatMessage[] = [];
    ben.on('message', (m) => got.push(m));
    const sent = await ann.say('hello ben');
    expect(sent.id).toEqual(expect.any(Number));
    await waitUntil(() => got.some((m) => m.id === sent.id && m.text === 'hello ben'), 5000, 'ben to get it');
    expect(await ann.users()).toEqual(expect.arrayContaining(['ann', 'ben']));
    await ann.join('core-dev');
    expect(ann.room).toBe('core-dev');
    expect((await ben.rooms()).map((r) => r.name)).toContain('core-dev');
    const directs: string[] = [];
    ben.on('direct', (d) => directs.push(d.text));
    await ann.direct('ben', 'psst');
    await waitUntil(() => directs.includes('psst'), 5000, 'the direct message');
    await expect(ann.direct('nobody', 'x')).rejects.toMatchObject({ code: 'user_offline' });
    expect(await ann.ping()).toBeGreaterThanOrEqual(0);
    await ann.leave();
    expect(ann.room).toBe('global');
    expect((await ann.help()).map((c) => c.usage)).toContain('/join <room>');
  });

  it('reconnects after its worker drains and resumes with nothing lost or doubled', async () => {
    const cal = make(a.wsUrl, 'cal', 'core-resume');
    const dee = make(b.wsUrl, 'dee', 'core-resume');
    await cal.connect();
    await dee.connect();
    const deeSaw: string[] = [];
    dee.on('message', (m) => deeSaw.push(m.text));
    const seen = new Map<number, number>();
    cal.on('message', (m, meta) => !meta.own && m.id !== null && seen.set(m.id, (seen.get(m.id) ?? 0) + 1));
    const states: string[] = [];
    cal.on('state', (s) => states.push(s));
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push((await dee.say(`before ${i}`)).id!);
    await waitUntil(() => ids.every((id) => seen.has(id)), 5000, 'the first messages');

    const port = a.port;
    await a.stop(); // SIGTERM: clients get 1001 and start reconnecting
    await waitUntil(() => cal.state === 'reconnecting', 5000, 'cal to notice');
    for (let i = 0; i < 5; i++) ids.push((await dee.say(`while away ${i}`)).id!);
    // What cal types meanwhile fails with say(), and waits for the reconnect with sayWhenConnected().
    await expect(cal.say('lost')).rejects.toThrow('not connected');
    const typed = [cal.sayWhenConnected('typed while away 1'), cal.sayWhenConnected('typed while away 2')];
    // A new worker on the same port: cal's retries reach it and resume.
    extra.push(await startWorker({ natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix, id: 'CA2', port }));
    await waitUntil(() => cal.state === 'open' && cal.worker === 'CA2', 15_000, 'cal back on the new worker');
    for (let i = 0; i < 5; i++) ids.push((await dee.say(`after ${i}`)).id!);
    await waitUntil(() => ids.every((id) => seen.has(id)), 5000, 'every message at cal');
    const [t1, t2] = await Promise.all(typed);
    expect([t1.text, t2.text]).toEqual(['typed while away 1', 'typed while away 2']);
    expect(t2.id).toBeGreaterThan(t1.id!); // in the order typed
    await waitUntil(() => deeSaw.filter((t) => t.startsWith('typed while away')).length === 2, 5000, 'dee to get the typed lines');
    expect(deeSaw.filter((t) => t.startsWith('typed while away') || t === 'lost')).toEqual(['typed while away 1', 'typed while away 2']);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(states).toContain('reconnecting');
    expect(cal.reconnects).toBeGreaterThan(0);
  });

  it('gives up a line waiting for the connection when the client is closed', async () => {
    const fay = make(b.wsUrl, 'fay');
    await fay.connect();
    fay.close();
    await expect(fay.sayWhenConnected('never')).rejects.toThrow('not connected');
  });

  it('reports a taken name on connect and stops', async () => {
    const first = make(b.wsUrl, 'eve');
    await first.connect();
    const second = make(b.wsUrl, 'eve');
    await expect(second.connect()).rejects.toThrow();
    expect(second.state).toBe('closed');
  });
});
