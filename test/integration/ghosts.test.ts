/**
 * A worker dies without saying goodbye (SIGKILL). Its users must not haunt the cluster: they
 * vanish from presence on the surviving worker within the presence TTL, the members they
 * shared rooms with get exactly one leave event each (reason "timeout"), rooms left empty
 * disappear, and the dead users' names can be claimed again.
 *
 * Workers run with PRESENCE_HEARTBEAT_MS 500, PRESENCE_TTL_MS 1500, PRESENCE_REAP_INTERVAL_MS 200
 * (test/support/worker.ts).
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { connect, connectLegacy, connectV1, type Frame, type TestClient } from '../support/client';
import { uniquePrefix } from '../support/prefix';
import { waitUntil } from '../support/servers';
import { startWorker, type WorkerHandle } from '../support/worker';

const TTL_MS = 1500;
const HEARTBEAT_MS = 500;
const REAP_MS = 200;

/** Records the arrival time of every frame a client receives from now on, by frame index. */
function stamp(c: TestClient): Map<number, number> {
  const times = new Map<number, number>();
  // Registered after TestClient's own listener, so the frame is already in c.frames.
  c.ws.on('message', () => times.set(c.frames.length - 1, Date.now()));
  return times;
}

/** Index and arrival time of every frame after `from` that matches. */
function hitsAfter(c: TestClient, times: Map<number, number>, from: number, pred: (f: Frame) => boolean): { frame: Frame; at: number }[] {
  const out: { frame: Frame; at: number }[] = [];
  for (let i = from; i < c.frames.length; i++) if (pred(c.frames[i])) out.push({ frame: c.frames[i], at: times.get(i) ?? NaN });
  return out;
}

const legacyLeft = (user: string, room: string) => (f: Frame) =>
  f.type === 'system_message' && f.content === `${user} left the room` && f.room === room;
const v1Left = (user: string, room: string) => (f: Frame) => f.type === 'user_left' && f.user === user && f.room === room;
const anyLeaveOf = (user: string) => (f: Frame) =>
  (f.type === 'user_left' && f.user === user) || (f.type === 'system_message' && f.content === `${user} left the room`);

describe('a SIGKILLed worker leaves no ghosts', () => {
  let a: WorkerHandle; // the one that dies
  let b: WorkerHandle; // the survivor
  const clients: TestClient[] = [];

  beforeAll(async () => {
    const prefix = uniquePrefix('ghosts');
    [a, b] = await Promise.all([
      startWorker({ natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix, id: 'ghostA' }),
      startWorker({ natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix, id: 'ghostB' }),
    ]);
  });

  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') for (const w of [a, b]) if (w) console.log(`--- ${w.id} logs\n${w.logs.slice(-40).join('\n')}`);
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all([a?.kill(), b?.stop()]);
  });

  it('removes the dead worker\'s users and rooms within the TTL and announces each leave exactly once', async () => {
    // --- the survivors, on B
    const keepG = await connectLegacy(b.wsUrl, 'keepG'); // legacy, global
    const keepGv = await connectV1(b.wsUrl, 'keepGv'); // v1, global
    const keepD = await connectV1(b.wsUrl, 'keepD', { room: 'dev' }); // v1, dev
    const keepDL = await connectLegacy(b.wsUrl, 'keepDL'); // legacy, moves to dev
    clients.push(keepG, keepGv, keepD, keepDL);
    keepDL.send({ type: 'join_room', room: 'dev' });
    await keepDL.waitFor((f) => f.type === 'system_message' && f.content === 'keepDL joined the room dev');

    // --- the ghosts-to-be, on A
    const ghostG = await connectLegacy(a.wsUrl, 'ghostG'); // legacy, global
    const ghostGv = await connectV1(a.wsUrl, 'ghostGv'); // v1, global
    const ghostD = await connectV1(a.wsUrl, 'ghostD'); // v1, joins dev by frame
    await ghostD.request({ type: 'join', room: 'dev' }, (f) => f.type === 'history' && f.room === 'dev');
    const ghostDL = await connectLegacy(a.wsUrl, 'ghostDL'); // legacy, joins dev by slash command
    ghostDL.send({ type: 'chat_message', content: '/join dev' });
    await ghostDL.waitFor((f) => f.type === 'system_message' && f.content === 'ghostDL joined the room dev');
    const ghostS = await connectV1(a.wsUrl, 'ghostS', { room: 'lonely' }); // the only member of "lonely"
    clients.push(ghostG, ghostGv, ghostD, ghostDL, ghostS);
    const ghosts = ['ghostG', 'ghostGv', 'ghostD', 'ghostDL', 'ghostS'];

    // Presence as seen from B before the crash (joins are visible there once the survivors saw them).
    await keepD.waitFor((f) => f.type === 'user_joined' && f.user === 'ghostDL' && f.room === 'dev');
    const obs = await connectLegacy(b.wsUrl, 'obs'); // asks list_users / list_rooms on B
    clients.push(obs);
    const listUsers = async (): Promise<string[]> =>
      (await obs.request({ type: 'list_users' }, (f) => f.type === 'system_message' && Array.isArray(f.users))).users;
    const listRooms = async (): Promise<{ name: string; users: number }[]> =>
      (await obs.request({ type: 'list_rooms' }, (f) => f.type === 'system_message' && Array.isArray(f.rooms))).rooms;
    expect(await listUsers()).toEqual(expect.arrayContaining([...ghosts, 'keepG', 'keepGv', 'keepD', 'keepDL', 'obs']));
    expect(await listRooms()).toEqual([
      { name: 'dev', users: 4 },
      { name: 'global', users: 5 },
      { name: 'lonely', users: 1 },
    ]);

    // --- crash A
    const watchers = [keepG, keepGv, keepD, keepDL];
    const stamps = new Map(watchers.map((c) => [c, stamp(c)]));
    const from = new Map(watchers.map((c) => [c, c.frames.length]));
    const killedAt = Date.now();
    await a.kill();
    expect(a.proc.signalCode).toBe('SIGKILL');

    // The dead users' claims outlive the process until the TTL: the names are not free yet.
    const early = await connect(b.wsUrl, 'ghostG');
    clients.push(early);
    expect(await early.closed).toBe(4001);
    expect(early.frames.some((f) => f.code === 'username_taken')).toBe(true);
    expect(Date.now() - killedAt).toBeLessThan(TTL_MS - HEARTBEAT_MS); // the check really ran inside the TTL

    // --- the ghosts vanish from list_users on B
    let vanishedAt = 0;
    await waitUntil(
      async () => {
        const users = await listUsers();
        if (ghosts.some((g) => users.includes(g))) return false;
        vanishedAt = Date.now();
        expect(users).toEqual(['keepD', 'keepDL', 'keepG', 'keepGv', 'obs']);
        return true;
      },
      TTL_MS * 3,
      'the dead worker\'s users to vanish from list_users',
    );
    // --- and from list_rooms: "lonely" is gone, the shared rooms count only the survivors
    let roomsGoneAt = 0;
    await waitUntil(
      async () => {
        const rooms = await listRooms();
        if (rooms.some((r) => r.name === 'lonely')) return false;
        roomsGoneAt = Date.now();
        expect(rooms).toEqual([
          { name: 'dev', users: 2 },
          { name: 'global', users: 3 },
        ]);
        return true;
      },
      TTL_MS * 3,
      '"lonely" to disappear from list_rooms',
    );

    // --- leave events on B, with the reason "timeout" in the extended dialect
    const expected: [TestClient, string, (f: Frame) => boolean][] = [
      [keepG, 'ghostG', legacyLeft('ghostG', 'global')],
      [keepG, 'ghostGv', legacyLeft('ghostGv', 'global')],
      [keepGv, 'ghostG', v1Left('ghostG', 'global')],
      [keepGv, 'ghostGv', v1Left('ghostGv', 'global')],
      [keepD, 'ghostD', v1Left('ghostD', 'dev')],
      [keepD, 'ghostDL', v1Left('ghostDL', 'dev')],
      [keepDL, 'ghostD', legacyLeft('ghostD', 'dev')],
      [keepDL, 'ghostDL', legacyLeft('ghostDL', 'dev')],
    ];
    for (const [c, , pred] of expected) await c.waitFor(pred, { from: from.get(c), timeoutMs: TTL_MS * 3, what: 'a leave event' });
    for (const c of [keepGv, keepD]) {
      for (const f of c.frames.slice(from.get(c)).filter((x) => x.type === 'user_left')) expect(f.reason).toBe('timeout');
    }

    // --- the names are claimable again
    const reclaimed: TestClient[] = [];
    for (const name of ghosts) {
      let c: TestClient | null = null;
      await waitUntil(
        async () => {
          const attempt = await connect(b.wsUrl, name, { v1: true });
          clients.push(attempt);
          await attempt.waitFor((f) => f.type === 'history' || f.type === 'error', { what: `${name}'s claim` });
          if (attempt.ofType('history').length === 0) return false;
          c = attempt;
          return true;
        },
        TTL_MS * 2,
        `${name} to be claimable again`,
      );
      reclaimed.push(c!);
    }
    const reclaimedAt = Date.now();

    // --- exactly once: a leave event cannot be proved absent by waiting for it, so watch a quiet
    // period of two more TTLs (dozens of reap rounds on B), then a sentinel message that every
    // watcher must receive proves their streams were still flowing.
    const quietUntil = Date.now() + 2 * TTL_MS;
    await waitUntil(() => Date.now() >= quietUntil, 3 * TTL_MS, 'the quiet period');
    keepGv.send({ type: 'message', text: 'sentinel-global', ref: 's1' });
    keepD.send({ type: 'message', text: 'sentinel-dev', ref: 's2' });
    await keepG.waitFor((f) => f.type === 'chat_message' && f.content === 'sentinel-global');
    await keepDL.waitFor((f) => f.type === 'chat_message' && f.content === 'sentinel-dev');
    await keepGv.waitFor((f) => f.type === 'ack' && f.ref === 's1');
    await keepD.waitFor((f) => f.type === 'ack' && f.ref === 's2');

    const leaveTimes: number[] = [];
    for (const [c, user, pred] of expected) {
      const hits = hitsAfter(c, stamps.get(c)!, from.get(c)!, pred);
      expect(hits, `${c.username} should see ${user} leave exactly once`).toHaveLength(1);
      // ... and nothing else about that user leaving (no second event under another room or reason)
      expect(hitsAfter(c, stamps.get(c)!, from.get(c)!, anyLeaveOf(user)), `${c.username}: leaves of ${user}`).toHaveLength(1);
      leaveTimes.push(hits[0].at - killedAt);
    }
    // Nobody on B left, and the reclaimed sessions are alive (their joins did not produce leaves).
    const survivorLeft = (f: Frame) =>
      (f.type === 'user_left' && !ghosts.includes(f.user)) ||
      (f.type === 'system_message' && / left the room$/.test(f.content) && !ghosts.some((g) => f.content === `${g} left the room`));
    for (const c of watchers) expect(hitsAfter(c, stamps.get(c)!, from.get(c)!, survivorLeft)).toEqual([]);
    for (const c of reclaimed) expect(c.closeCode).toBeNull();

    // --- figures
    const vanishMs = vanishedAt - killedAt;
    const leaveMin = Math.min(...leaveTimes);
    const leaveMax = Math.max(...leaveTimes);
    console.log(
      `[ghosts] TTL ${TTL_MS} ms, heartbeat ${HEARTBEAT_MS} ms, reap ${REAP_MS} ms: ` +
        `kill -> users gone from list_users ${vanishMs} ms; -> empty room gone from list_rooms ${roomsGoneAt - killedAt} ms; ` +
        `-> leave events ${leaveMin}..${leaveMax} ms (${leaveTimes.length} events); -> all names reclaimed ${reclaimedAt - killedAt} ms`,
    );
    // The last heartbeat was at most one interval before the kill, so entries expire within the TTL;
    // allow the observer's polling and one reap round on top.
    expect(vanishMs).toBeLessThanOrEqual(TTL_MS + 250);
    expect(vanishMs).toBeGreaterThanOrEqual(TTL_MS - HEARTBEAT_MS - 100);
    expect(leaveMax).toBeLessThanOrEqual(TTL_MS + REAP_MS + 400);
  });
});
