/**
 * Three points where docs/protocol.md and the worker once disagreed, each checked against real
 * workers: an empty `after=` in the URL, the leave a session takeover into another room
 * announces, and the replies a flood gets before its 4002.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { connect, connectV1, presenceChanges, type TestClient } from '../support/client';
import { uniquePrefix } from '../support/prefix';
import { ROOT, startWorker, type WorkerHandle } from '../support/worker';

/** PRESENCE_TTL_MS of test workers (test/support/worker.ts), and a margin for the reaper. */
const TTL_MS = 1500;

describe('protocol points, on real workers', () => {
  let a: WorkerHandle;
  let b: WorkerHandle;
  let clients: TestClient[] = [];
  const track = <T extends TestClient>(c: T): T => (clients.push(c), c);

  beforeAll(async () => {
    const prefix = uniquePrefix('points');
    const common = { natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix };
    // Default rate and abuse limits: the flood below is the one docs/protocol.md describes.
    [a, b] = await Promise.all([startWorker({ ...common, id: 'pointsA' }), startWorker({ ...common, id: 'pointsB' })]);
  });

  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail') for (const w of [a, b]) console.log(`--- ${w.id} logs\n${w.logs.slice(-30).join('\n')}`);
    await Promise.all(clients.map((c) => c.close()));
    clients = [];
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('an empty after= is refused with 400, as docs/protocol.md says', async () => {
    const doc = readFileSync(path.join(ROOT, 'docs', 'protocol.md'), 'utf8');
    const connecting = doc.slice(doc.indexOf('### 1.1'), doc.indexOf('### 1.2'));
    expect(connecting).toMatch(/an empty `after=`\s+is refused with 400/);
    expect(connecting).not.toMatch(/counts as `0`/);
    const refused = await connect(a.wsUrl, 'pt_empty', { v1: true, query: 'after=' }).then(
      (c) => (c.terminate(), null),
      (e: { status?: number; body?: string }) => e,
    );
    expect(refused).toMatchObject({ status: 400, body: expect.stringContaining('invalid after') });
    // Without the parameter, or with a number, the same name connects.
    const ok = track(await connectV1(a.wsUrl, 'pt_empty', { after: 0 }));
    expect(ok.ofType('history')[0]).toMatchObject({ gap: null, reset: false });
  });

  for (const where of ['the same worker', 'another worker'] as const) {
    it(`a takeover into another room on ${where} tells the old room "left" at once, and only once`, async () => {
      const tag = where === 'the same worker' ? 'sw' : 'ow';
      const user = `pt_${tag}_user`;
      const room = `pt_${tag}_dev`;
      const session = `points_${tag}_session_0123456789`;
      const old = track(await connectV1(a.wsUrl, user, { session, room }));
      const watcher = track(await connectV1(a.wsUrl, `pt_${tag}_watch`, { room }));
      const mark = watcher.frames.length;
      // The same session comes back without asking for the room: it starts in global.
      const fresh = track(await connectV1(where === 'the same worker' ? a.wsUrl : b.wsUrl, user, { session }));
      expect(fresh.ofType('welcome')[0]).toMatchObject({ room: 'global' });
      expect(await old.closed).toBe(4005);
      const left = () => presenceChanges(watcher.frames.slice(mark), room).filter((x) => x.kind === 'left' && x.user === user);
      await watcher.waitFor((f) => presenceChanges([f], room).some((x) => x.kind === 'left' && x.user === user), {
        from: mark,
        what: `the leave of ${user}`,
      });
      expect(left()).toEqual([{ kind: 'left', user, room, reason: 'left' }]);
      // Past the TTL and a reaper round: no second leave (a "timeout" for the old membership).
      await sleep(TTL_MS * 2);
      const ref = `${tag}-users`;
      await watcher.request({ type: 'users', room, ref }, (f) => f.ref === ref);
      expect(left()).toHaveLength(1);
      expect(watcher.frames.find((f) => f.ref === ref)!.users).toEqual([`pt_${tag}_watch`]);
    });
  }

  it('a flood of 80 pings gets a pong for every frame accepted before the 4002, and 31 errors', async () => {
    const erin = track(await connectV1(b.wsUrl, 'pt_erin'));
    const mark = erin.frames.length;
    // One write, so the worker reads all 80 frames at once: the case that used to lose the pongs.
    const socket = (erin.ws as unknown as { _socket: { cork(): void; uncork(): void } })._socket;
    socket.cork();
    for (let ref = 1; ref <= 80; ref++) erin.send({ type: 'ping', ref });
    socket.uncork();
    expect(await erin.closed).toBe(4002);
    const frames = erin.frames.slice(mark);
    const errors = frames.filter((f) => f.type === 'error');
    const pongs = frames.filter((f) => f.type === 'pong');
    console.log(`flood: 80 pings gave ${pongs.length} pongs and ${errors.length} errors, then ${erin.closeCode}`);
    expect(errors.every((f) => f.code === 'rate_limited')).toBe(true);
    expect(errors).toHaveLength(31);
    // The 31st error ends the connection: every earlier frame without an error got its pong,
    // and nothing after it was answered.
    const errorRefs = new Set(errors.map((f) => f.ref));
    const last = Math.max(...errorRefs);
    const accepted = Array.from({ length: last }, (_, i) => i + 1).filter((ref) => !errorRefs.has(ref));
    expect(accepted.length).toBeGreaterThanOrEqual(40); // the bucket starts full (rateBurst 40)
    expect(pongs.map((f) => f.ref)).toEqual(accepted);
    expect(frames.filter((f) => f.ref > last)).toEqual([]);
  });
});
