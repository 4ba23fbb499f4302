/**
 * Username claims across two real workers: a 40-way race for one name, the name freed at once
 * by a clean disconnect, and v1 session takeover (old socket closed 4005) across workers and
 * rooms.
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { connect, connectLegacy, connectV1, type Frame, type TestClient } from '../support/client';
import { uniquePrefix } from '../support/prefix';
import { startWorker, type WorkerHandle } from '../support/worker';

const sys = (content: string) => (f: Frame) => f.type === 'system_message' && f.content === content;
const isTaken = (f: Frame) =>
  (f.type === 'error' && f.code === 'username_taken') || (f.type === 'system_message' && f.code === 'username_taken');
/** True once the client holds the name and sits in its first room. */
const isIn = (c: TestClient) =>
  c.frames.some((f) => f.type === 'history') || c.frames.some(sys(`${c.username} joined the room global`));

let refSeq = 0;
async function v1Users(c: TestClient, room?: string): Promise<string[]> {
  const ref = `u${++refSeq}`;
  const r = await c.request({ type: 'users', ...(room && { room }), ref }, (f) => f.ref === ref);
  expect(r.type).toBe('users');
  return r.users as string[];
}

describe('usernames across two workers', () => {
  let a: WorkerHandle;
  let b: WorkerHandle;
  let clients: TestClient[] = [];
  const track = <T extends TestClient>(c: T): T => {
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    const prefix = uniquePrefix('names');
    [a, b] = await Promise.all([
      startWorker({ natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix, id: 'namesA' }),
      startWorker({ natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix, id: 'namesB' }),
    ]);
  });

  afterEach(async () => {
    await Promise.all(clients.map((c) => c.close()));
    clients = [];
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  /** 40 connections in both dialects over both workers claim `name` at once. */
  async function race(name: string) {
    const specs = Array.from({ length: 40 }, (_, i) => ({ worker: i % 2 === 0 ? a : b, v1: i % 4 < 2 }));
    const racers = await Promise.all(specs.map((s) => connect(s.worker.wsUrl, name, { v1: s.v1 }).then(track)));
    // Everyone ends up either refused (and closed) or in the room.
    await vi.waitFor(
      () => {
        const settled = racers.filter((c) => c.closeCode !== null || isIn(c));
        expect(settled.length).toBe(40);
      },
      { timeout: 10_000, interval: 50 },
    );
    const winners = racers.map((c, i) => ({ c, spec: specs[i] })).filter(({ c }) => c.closeCode === null);
    const losers = racers.filter((c) => c.closeCode !== null);
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(39);
    for (const l of losers) {
      expect(l.closeCode).toBe(4001);
      // The "taken" error came first, then the close; never a welcome or a join.
      expect(l.frames.length).toBe(1);
      expect(isTaken(l.frames[0])).toBe(true);
      if (l.frames[0].type === 'system_message') {
        expect(l.frames[0].content).toMatch(/^error: .*already taken/);
      }
      expect(isIn(l)).toBe(false);
    }
    const { c: winner, spec } = winners[0];
    expect(isIn(winner)).toBe(true);
    if (spec.v1) expect(winner.ofType('welcome')).toEqual([expect.objectContaining({ user: name, worker: spec.worker.id })]);
    return { winner, worker: spec.worker, other: spec.worker === a ? b : a };
  }

  it('lets exactly one of 40 concurrent claims on both workers win; the rest get "taken" and close 4001', async () => {
    const { winner, worker, other } = await race('contested');
    const watcher = track(await connectV1(other.wsUrl, 'race_watch'));
    // The winner is the one "contested" in the cluster and it can chat across workers.
    expect((await v1Users(watcher)).filter((u) => u === 'contested')).toHaveLength(1);
    winner.send(winner.ws.protocol ? { type: 'message', text: 'I won' } : { type: 'chat_message', content: 'I won' });
    expect(await watcher.waitFor((f) => f.type === 'message' && f.text === 'I won')).toMatchObject({ from: 'contested' });
    expect(worker.logs.join('\n')).not.toMatch(/"level":(50|60)/);
    expect(other.logs.join('\n')).not.toMatch(/"level":(50|60)/);
  });

  /** One connection attempt for `name`; resolves once it is either in its first room or closed. */
  async function attempt(w: WorkerHandle, name: string, v1: boolean): Promise<TestClient> {
    const c = track(await connect(w.wsUrl, name, { v1 }));
    await vi.waitFor(() => expect(c.closeCode !== null || isIn(c)).toBe(true), { timeout: 5000, interval: 10 });
    return c;
  }

  it('frees the name on a clean disconnect, well before the presence TTL could expire the claim', async () => {
    const { winner, other } = await race('freed');
    await winner.close(1000);
    // The claim's TTL is 1500 ms, refreshed every 500 ms, so expiry alone would take at least 1000 ms.
    const started = Date.now();
    let again: TestClient | undefined;
    await vi.waitFor(
      async () => {
        again = await attempt(other, 'freed', true);
        expect(again.closeCode).toBeNull();
      },
      { timeout: 900, interval: 20 },
    );
    expect(Date.now() - started).toBeLessThan(1000);
    expect(again!.ofType('welcome')[0]).toMatchObject({ user: 'freed', worker: other.id });
    const watcher = track(await connectV1(other.wsUrl, 'freed_watch'));
    expect((await v1Users(watcher)).filter((u) => u === 'freed')).toEqual(['freed']);
  });

  it('frees the name at once: a reconnect right after a clean close is never refused (cycles over both workers)', async () => {
    // Each cycle: connect, wait until in the room, close cleanly, and at once connect again,
    // alternately on the other and on the same worker, in both dialects. No retries.
    const refused: string[] = [];
    let holder = await attempt(a, 'cycler', true);
    expect(holder.closeCode).toBeNull();
    for (let i = 1; i <= 16; i++) {
      const w = i % 4 === 1 || i % 4 === 2 ? b : a; // a->b, b->b, b->a, a->a, ...
      await holder.close(1000);
      const next = await attempt(w, 'cycler', i % 3 !== 0);
      if (next.closeCode !== null) {
        refused.push(`cycle ${i} on ${w.id}: closed ${next.closeCode} after ${JSON.stringify(next.frames[0])}`);
        // Let the old release land before the next cycle, so one miss does not cascade.
        holder = await (async () => {
          let c: TestClient | undefined;
          await vi.waitFor(async () => {
            c = await attempt(w, 'cycler', true);
            expect(c.closeCode).toBeNull();
          }, { timeout: 3000, interval: 20 });
          return c!;
        })();
      } else {
        holder = next;
      }
    }
    expect(refused).toEqual([]);
  });

  it('lets a v1 reconnect with the same session token take over across workers; the old socket closes 4005', async () => {
    const session = 'sessiontoken_0123456789abcdef';
    const name = 'sess_user';
    const first = track(await connectV1(a.wsUrl, name, { session }));
    const onA = track(await connectLegacy(a.wsUrl, 'sess_obsA'));
    const onB = track(await connectV1(b.wsUrl, 'sess_obsB'));
    await onA.waitFor(sys('sess_obsB joined the room global'));

    // Someone else's name without the token, or with another token, stays refused.
    for (const opts of [{}, { session: 'another_token_0123456789' }]) {
      const thief = track(await connect(b.wsUrl, name, { v1: true, ...opts }));
      expect(await thief.closed).toBe(4001);
      expect(thief.frames).toEqual([expect.objectContaining({ type: 'error', code: 'username_taken' })]);
    }
    expect(first.closeCode).toBeNull();

    // Same token on the other worker: the new connection takes over.
    const onAFrom = onA.frames.length;
    const second = track(await connectV1(b.wsUrl, name, { session }));
    expect(second.ofType('welcome')[0]).toMatchObject({ user: name, worker: b.id });
    expect(await first.closed).toBe(4005);
    expect(first.frames.some(isTaken)).toBe(false);

    // The replacement is silent: the user never left the room (its membership was still live), so
    // a marker from worker A (which hosted the old socket) arrives with no leave and no join for
    // the user before it.
    onA.send({ type: 'chat_message', content: 'marker after takeover' });
    await onB.waitFor((f) => f.type === 'message' && f.text === 'marker after takeover');
    await second.waitFor((f) => f.type === 'message' && f.text === 'marker after takeover');
    expect(onB.frames.filter((f) => (f.type === 'user_left' || f.type === 'user_joined') && f.user === name)).toEqual([]);
    expect(onA.frames.slice(onAFrom).filter((f) => f.type === 'system_message' && f.user === name)).toEqual([]);

    // The new connection works across workers: chat both ways, direct messages, presence.
    second.send({ type: 'message', text: 'back from B' });
    expect(await onA.waitFor((f) => f.type === 'chat_message' && f.content === 'back from B')).toMatchObject({ sender: name });
    onA.send({ type: 'chat_message', content: `/msg ${name} psst` });
    expect(await second.waitFor((f) => f.type === 'direct')).toMatchObject({ from: 'sess_obsA', to: name, text: 'psst' });
    await onA.waitFor(sys(`direct message sent to ${name}`));
    expect((await v1Users(onB)).filter((u) => u === name)).toEqual([name]);
    expect(await v1Users(onB, 'global')).toEqual(['sess_obsA', 'sess_obsB', name].sort());

    // And back to A: the socket on B is replaced in turn.
    const third = track(await connectV1(a.wsUrl, name, { session }));
    expect(await second.closed).toBe(4005);
    third.send({ type: 'message', text: 'back on A' });
    await onB.waitFor((f) => f.type === 'message' && f.text === 'back on A');
    onB.send({ type: 'direct', to: name, text: 'found you', ref: 'd1' });
    await onB.waitFor((f) => f.type === 'ack' && f.ref === 'd1');
    expect(await third.waitFor((f) => f.type === 'direct')).toMatchObject({ from: 'sess_obsB', text: 'found you' });

    // A clean disconnect of the current holder frees the name for anyone.
    await third.close(1000);
    await onB.waitFor((f) => f.type === 'user_left' && f.user === name && f.reason === 'disconnected');
    const newcomer = track(await connectLegacy(b.wsUrl, name));
    expect(newcomer.closeCode).toBeNull();
  });

  it('after a takeover into another room, the old room no longer lists the user and is told it left', async () => {
    const session = 'room_switch_session_0123456';
    const name = 'rs_user';
    const old = track(await connectV1(a.wsUrl, name, { session, room: 'rs_dev' }));
    const devObs = track(await connectV1(b.wsUrl, 'rs_obs', { room: 'rs_dev' }));
    await old.waitFor((f) => f.type === 'user_joined' && f.user === 'rs_obs');
    expect(await v1Users(devObs, 'rs_dev')).toEqual(['rs_obs', name]);

    // The same session reconnects on B without asking for rs_dev: it lands in global.
    const fresh = track(await connectV1(b.wsUrl, name, { session }));
    expect(fresh.ofType('welcome')[0]).toMatchObject({ room: 'global' });
    expect(await old.closed).toBe(4005);
    // The user is in global now, so rs_dev must not list it (nor count it in list_rooms) ...
    expect(await v1Users(fresh, 'global')).toContain(name);
    expect(await v1Users(devObs, 'rs_dev')).toEqual(['rs_obs']);
    const ref = 'rs_rooms';
    const rooms = await devObs.request({ type: 'rooms', ref }, (f) => f.ref === ref);
    expect(rooms.rooms).toContainEqual({ name: 'rs_dev', users: 1 });
    // ... and rs_dev's members hear that it left, as a leave, not as a presence timeout.
    const left = await devObs.waitFor((f) => f.type === 'user_left' && f.user === name);
    expect(left).toMatchObject({ room: 'rs_dev', reason: 'left' });
  });

  it('takes over on the same worker too', async () => {
    const session = 'same_worker_session_abcdef';
    const one = track(await connectV1(b.wsUrl, 'sw_user', { session }));
    const peer = track(await connectV1(a.wsUrl, 'sw_peer'));
    const two = track(await connectV1(b.wsUrl, 'sw_user', { session }));
    expect(await one.closed).toBe(4005);
    two.send({ type: 'message', text: 'still me' });
    expect(await peer.waitFor((f) => f.type === 'message' && f.text === 'still me')).toMatchObject({ from: 'sw_user' });
    peer.send({ type: 'direct', to: 'sw_user', text: 'dm', ref: 'x' });
    await two.waitFor((f) => f.type === 'direct' && f.text === 'dm');
  });
});
