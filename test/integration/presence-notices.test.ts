/**
 * Presence notices between real workers (NATS, Redis) with the default batching: a crowd joining
 * a room costs each member a few notices, not one per joiner; large rooms get summaries in both
 * dialects; a drained worker's clients with session tokens are parked, so their reconnect
 * announces nothing, and one that never comes back times out.
 *
 * Workers run with PRESENCE_TTL_MS 1500 and PRESENCE_REAP_INTERVAL_MS 200 (test/support/worker.ts).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connect, connectLegacy, connectV1, presenceChanges, type TestClient } from '../support/client';
import { uniquePrefix } from '../support/prefix';
import { waitUntil } from '../support/servers';
import { startWorker, type WorkerHandle } from '../support/worker';

const DEFAULTS = { PRESENCE_NOTICE_MS: '200', PRESENCE_SUMMARY_ABOVE: '50', PRESENCE_SUMMARY_MS: '1000' };

describe('presence notices across workers', () => {
  let a: WorkerHandle;
  let b: WorkerHandle;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    const prefix = uniquePrefix('notices');
    [a, b] = await Promise.all(
      ['noticeA', 'noticeB'].map((id) => startWorker({ natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix, id, env: DEFAULTS })),
    );
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('announces a crowd of 80 joining in a few batches, summarised once the room is large, to both dialects', async () => {
    const room = 'crowd';
    const watchV1 = await connectV1(b.wsUrl, 'crowd_watch', { room });
    const watchLegacy = await connectLegacy(a.wsUrl, 'crowd_old');
    watchLegacy.send({ type: 'join_room', room });
    await watchLegacy.waitFor((f) => f.content === `crowd_old joined the room ${room}`);
    clients.push(watchV1, watchLegacy);
    const crowd = await Promise.all(
      Array.from({ length: 80 }, (_, i) => connectV1((i % 2 ? a : b).wsUrl, `crowd${i}`, { room })),
    );
    clients.push(...crowd);

    // Every joiner is counted exactly once, whether named or summarised.
    const counted = (c: TestClient) =>
      c.frames.reduce((n, f) => {
        if (f.type === 'user_joined' && f.user.startsWith('crowd') && /^crowd\d+$/.test(f.user)) return n + 1;
        if (f.type === 'presence') return n + f.joinedCount;
        if (f.event === 'users_joined') return n + f.count;
        if (f.event === 'user_joined' && /^crowd\d+$/.test(f.user)) return n + 1;
        return n;
      }, 0);
    await waitUntil(() => counted(watchV1) === 80 && counted(watchLegacy) === 80, 15_000, 'every join counted once');

    const v1Notices = watchV1.frames.filter((f) => f.type === 'presence' || (f.type === 'user_joined' && /^crowd\d+$/.test(f.user)));
    // Two workers, 200 ms windows (1 s once the room is large): far fewer frames than joiners.
    expect(v1Notices.length).toBeLessThan(30);
    const summaries = watchV1.ofType('presence').filter((f) => f.members > 50);
    expect(summaries.length).toBeGreaterThan(0);
    for (const s of summaries) expect(s.joined.length).toBeLessThanOrEqual(3);
    const lines = watchLegacy.frames.filter((f) => f.event === 'users_joined');
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.some((f) => / and \d+ others joined the room crowd$/.test(f.content))).toBe(true);
    // The member list a joiner gets is capped but counts everyone.
    const late = await connectV1(a.wsUrl, 'crowd_late', { room });
    clients.push(late);
    const joined = late.ofType('joined')[0];
    expect(joined.count).toBe(83);
    expect(joined.users.length).toBeLessThanOrEqual(100);
  });

  it('parks session clients of a drained worker: their reconnect announces nothing; one that never returns times out', async () => {
    const room = 'parking';
    const prefix = uniquePrefix('park');
    const [c, d] = await Promise.all(
      ['parkC', 'parkD'].map((id) => startWorker({ natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix, id, env: DEFAULTS })),
    );
    try {
      const watcher = await connectV1(d.wsUrl, 'pk_watch', { room });
      const returner = await connectV1(c.wsUrl, 'pk_back', { room, session: 'pk-back-session-0001' });
      const goner = await connectV1(c.wsUrl, 'pk_gone', { room, session: 'pk-gone-session-0001' });
      const plain = await connectV1(c.wsUrl, 'pk_plain', { room });
      await waitUntil(() => presenceChanges(watcher.frames, room).filter((x) => x.kind === 'joined').length >= 3, 5000, 'joins seen');
      const mark = watcher.frames.length;

      await c.stop(); // SIGTERM: drain
      await Promise.all([returner.closed, goner.closed, plain.closed]);
      expect([returner.closeCode, goner.closeCode, plain.closeCode]).toEqual([1001, 1001, 1001]);
      // The client without a session token leaves at once; the parked ones do not.
      await watcher.waitFor((f) => presenceChanges([f], room).some((x) => x.kind === 'left' && x.user === 'pk_plain'), { from: mark });
      const back = await connectV1(d.wsUrl, 'pk_back', { room, session: 'pk-back-session-0001', after: 0 });
      expect(back.ofType('joined')[0].users).toContain('pk_back');

      // pk_gone's presence expires (TTL 1.5 s) and the reaper announces it; pk_back is never announced.
      await watcher.waitFor((f) => presenceChanges([f], room).some((x) => x.kind === 'left' && x.user === 'pk_gone'), { from: mark, timeoutMs: 6000 });
      const heard = presenceChanges(watcher.frames.slice(mark), room);
      expect(heard.filter((x) => x.user === 'pk_back')).toEqual([]);
      expect(heard.find((x) => x.user === 'pk_gone')).toMatchObject({ kind: 'left', reason: 'timeout' });
      expect(heard.find((x) => x.user === 'pk_plain')).toMatchObject({ kind: 'left', reason: 'disconnected' });
      // And presence is right: the returner is listed, the others are not.
      const users = await watcher.request({ type: 'users', room, ref: 'u' }, (f) => f.ref === 'u');
      expect(users.users).toEqual(['pk_back', 'pk_watch']);
      await Promise.all([watcher.close(), back.close()]);
    } finally {
      await Promise.all([c.stop(), d.stop()]);
    }
  });

  it('sends the first change of a quiet room at once and holds the next for the window', async () => {
    // A long window makes "at once" and "held" far apart, so no timing here is tight.
    const prefix = uniquePrefix('window');
    const w = await startWorker({ natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix, id: 'windowW', env: { ...DEFAULTS, PRESENCE_NOTICE_MS: '4000' } });
    try {
      const room = 'quiet';
      const watch = await connectV1(w.wsUrl, 'q_watch', { room });
      await new Promise((r) => setTimeout(r, 4500)); // the watcher's own join window closes
      const t0 = Date.now();
      const first = await connectV1(w.wsUrl, 'q_first', { room });
      await watch.waitFor((x) => x.type === 'user_joined' && x.user === 'q_first');
      const firstAt = Date.now() - t0;
      const second = await connectV1(w.wsUrl, 'q_second', { room });
      await watch.waitFor((x) => presenceChanges([x], room).some((c) => c.user === 'q_second'), { timeoutMs: 8000 });
      const secondAt = Date.now() - t0;
      expect(firstAt).toBeLessThan(2000);
      expect(secondAt).toBeGreaterThan(3000);
      await Promise.all([watch.close(), first.close(), second.close()]);
    } finally {
      await w.stop();
    }
  });
});
