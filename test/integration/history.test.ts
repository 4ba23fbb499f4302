/**
 * Room history across real workers: the last N messages on join (extended dialect only),
 * exact resume after a disconnect while traffic keeps flowing on another worker, and the
 * gap / reset answers when the client's id is outside the kept range.
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { connect, connectLegacy, connectV1, type Frame, type TestClient } from '../support/client';
import { uniquePrefix } from '../support/prefix';
import { waitUntil } from '../support/servers';
import { startWorker, type WorkerHandle } from '../support/worker';

const ON_JOIN = 5;
// The continuous senders below go faster than the default 20 frames/s.
const FAST = { RATE_LIMIT_PER_SEC: '1000', RATE_LIMIT_BURST: '1000' };

const isMsg = (room: string) => (f: Frame) => f.type === 'message' && f.room === room;

/** Sends one message and waits for its ack; returns the ack's id. */
async function say(c: TestClient, text: string): Promise<number> {
  const ref = `say-${text}`;
  const ack = await c.request({ type: 'message', text, ref }, (f) => (f.type === 'ack' || f.type === 'error') && f.ref === ref);
  expect(ack.type, JSON.stringify(ack)).toBe('ack');
  return ack.id;
}

/**
 * Publishes continuously (each message after the previous ack, with a short pause so two cores
 * stay usable) until stopped; returns the acked ids in order.
 */
function startSender(c: TestClient, tag: string, pauseMs = 3) {
  let running = true;
  let sent = 0;
  const ids: number[] = [];
  const done = (async () => {
    while (running) {
      ids.push(await say(c, `${tag}-${sent++}`));
      await new Promise((r) => setTimeout(r, pauseMs)); // pacing, not waiting for a condition
    }
  })();
  return {
    get count() {
      return ids.length;
    },
    async stop(): Promise<number[]> {
      running = false;
      await done;
      return ids;
    },
  };
}

/** The ids a v1 client saw in `room` from frame index `from` on: history first, then live, in arrival order. */
function idsSeen(c: TestClient, room: string, from = 0): { history: number[]; live: number[]; all: number[] } {
  const frames = c.frames.slice(from);
  const h = frames.findIndex((f) => f.type === 'history' && f.room === room);
  const history = h < 0 ? [] : frames[h].messages.map((m: Frame) => m.id);
  const live = frames.slice(h + 1).filter(isMsg(room)).map((f) => f.id);
  return { history, live, all: [...history, ...live] };
}

const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

describe('history on join and resume, across two workers', () => {
  let a: WorkerHandle;
  let b: WorkerHandle;
  const clients: TestClient[] = [];
  const track = <T extends TestClient>(c: T): T => (clients.push(c), c);

  beforeAll(async () => {
    const prefix = uniquePrefix('history');
    const env = { HISTORY_ON_JOIN: String(ON_JOIN), ...FAST };
    [a, b] = await Promise.all([
      startWorker({ natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix, id: 'histA', env }),
      startWorker({ natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix, id: 'histB', env }),
    ]);
  });

  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') for (const w of [a, b]) if (w) console.log(`--- ${w.id} logs\n${w.logs.slice(-30).join('\n')}`);
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('sends the last HISTORY_ON_JOIN messages, oldest first, in a history frame before any live message', async () => {
    const writer = track(await connectV1(a.wsUrl, 'writer1', { room: 'h1' }));
    for (let i = 1; i <= 8; i++) expect(await say(writer, `m${i}`)).toBe(i);

    // Joining by URL on the other worker.
    const r1 = track(await connectV1(b.wsUrl, 'reader1', { room: 'h1' }));
    const welcome = r1.frames.find((f) => f.type === 'welcome');
    expect(welcome).toMatchObject({ room: 'h1', limits: { historyOnJoin: ON_JOIN } });
    const hist = r1.ofType('history');
    expect(hist).toHaveLength(1);
    expect(hist[0]).toMatchObject({ room: 'h1', gap: null, reset: false });
    expect(hist[0].messages.map((m: Frame) => [m.id, m.text, m.from, m.room])).toEqual(
      [4, 5, 6, 7, 8].map((i) => [i, `m${i}`, 'writer1', 'h1']),
    );
    for (const m of hist[0].messages) expect(Number.isNaN(Date.parse(m.ts))).toBe(false);
    // Order of the set-up frames: welcome, joined, history.
    expect(r1.frames.map((f) => f.type).slice(0, 3)).toEqual(['welcome', 'joined', 'history']);

    // Joining by frame, same answer.
    const r2 = track(await connectV1(b.wsUrl, 'reader2'));
    const from = r2.frames.length;
    const h2 = await r2.request({ type: 'join', room: 'h1', ref: 'j' }, (f) => f.type === 'history' && f.room === 'h1');
    expect(h2).toMatchObject({ ref: 'j', gap: null, reset: false });
    expect(h2.messages.map((m: Frame) => m.id)).toEqual([4, 5, 6, 7, 8]);
    expect(r2.frames.slice(from).findIndex((f) => f.type === 'joined' && f.room === 'h1')).toBeLessThan(
      r2.frames.slice(from).indexOf(h2),
    );
  });

  it('puts history before live messages that race the join, with no duplicates and no holes', async () => {
    const writer = track(await connectV1(a.wsUrl, 'writer2', { room: 'h1race' }));
    for (let i = 1; i <= 3; i++) await say(writer, `pre${i}`);
    for (let round = 0; round < 4; round++) {
      const sender = startSender(writer, `race${round}`);
      await waitUntil(() => sender.count >= 2, 5000, 'the sender to get going');
      const w = round % 2 === 0 ? b : a; // same worker as the sender, and the other one
      const r = track(await connectV1(w.wsUrl, `racer${round}`, { room: 'h1race' }));
      const start = sender.count;
      await waitUntil(() => sender.count >= start + 5, 5000, 'live traffic after the join');
      const ids = await sender.stop();
      const last = ids[ids.length - 1];
      await r.waitFor((f) => isMsg('h1race')(f) && f.id === last, { what: `message ${last}` });
      const seen = idsSeen(r, 'h1race');
      // History is exactly the last ON_JOIN ids before the first live one, then live continues.
      expect(seen.history).toHaveLength(ON_JOIN);
      expect(seen.all, `round ${round}`).toEqual(range(seen.history[0], last));
      // Nothing live before the history frame.
      const hIdx = r.frames.findIndex((f) => f.type === 'history');
      expect(r.frames.slice(0, hIdx).filter((f) => f.type === 'message')).toEqual([]);
      await r.close();
    }
  });

  it('resumes after a disconnect with exactly the missed messages, then live traffic sent during the reconnect', async () => {
    const room = 'h2';
    const sender = track(await connectV1(b.wsUrl, 'sender2', { room }));
    const token = 'resume-session-token-0001';
    let c = track(await connectV1(a.wsUrl, 'resumer', { room, session: token }));
    let lastSeen = 0;
    for (let i = 1; i <= 3; i++) lastSeen = await say(sender, `first${i}`);
    await c.waitFor((f) => isMsg(room)(f) && f.id === lastSeen);

    // Four cycles: reconnect by URL on A, by join frame on B, by URL on B, by join frame on A.
    const plans = [
      { worker: () => a, how: 'url' },
      { worker: () => b, how: 'frame' },
      { worker: () => b, how: 'url' },
      { worker: () => a, how: 'frame' },
    ] as const;
    for (const [cycle, plan] of plans.entries()) {
      const k = Math.max(...c.frames.filter(isMsg(room)).map((f) => f.id), ...c.ofType('history').flatMap((h) => h.messages.map((m: Frame) => m.id)));
      expect(k).toBe(lastSeen);
      await c.close();
      // Traffic the client misses entirely...
      for (let i = 0; i < 4; i++) await say(sender, `missed${cycle}-${i}`);
      // ... and traffic racing its reconnect.
      const live = startSender(sender, `live${cycle}`);
      await waitUntil(() => live.count >= 2, 5000, 'the sender to get going');
      let from = 0;
      if (plan.how === 'url') {
        c = track(await connect(plan.worker().wsUrl, 'resumer', { v1: true, room, after: k, session: token }));
      } else {
        c = track(await connectV1(plan.worker().wsUrl, 'resumer', { session: token }));
        from = c.frames.length;
        c.send({ type: 'join', room, after: k, ref: `resume${cycle}` });
      }
      const hist = await c.waitFor((f) => f.type === 'history' && f.room === room, { from, what: 'the resume history' });
      expect(hist).toMatchObject({ gap: null, reset: false });
      expect(hist.messages[0]?.id).toBe(k + 1);
      // The history already holds messages of the sender that was running during the reconnect.
      expect(hist.messages.some((m: Frame) => m.text.startsWith(`live${cycle}-`))).toBe(true);
      const start = live.count;
      await waitUntil(() => live.count >= start + 5, 5000, 'live traffic after the resume');
      const ids = await live.stop();
      lastSeen = ids[ids.length - 1];
      await c.waitFor((f) => isMsg(room)(f) && f.id === lastSeen, { from, what: `message ${lastSeen}` });
      const seen = idsSeen(c, room, from);
      expect(seen.all, `cycle ${cycle} (${plan.how})`).toEqual(range(k + 1, lastSeen));
      expect(seen.live.length, 'some messages arrived live, after the history').toBeGreaterThan(0);
      expect(c.ofType('error')).toEqual([]);
      // The texts match the ids the sender was acked with (no mix-up between rooms or messages).
      const texts = new Map(c.frames.filter(isMsg(room)).map((f) => [f.id, f.text]));
      ids.forEach((id, i) => texts.has(id) && expect(texts.get(id)).toBe(`live${cycle}-${i}`));
    }
  });

  it('answers a resume from beyond the last id with reset:true and the recent messages, and keeps delivering', async () => {
    const room = 'h3';
    const writer = track(await connectV1(a.wsUrl, 'writer3', { room }));
    for (let i = 1; i <= 7; i++) await say(writer, `r${i}`);
    const c = track(await connect(b.wsUrl, 'resetter', { v1: true, room, after: 100 }));
    const hist = await c.waitFor((f) => f.type === 'history');
    expect(hist).toMatchObject({ room, reset: true, gap: null });
    expect(hist.messages.map((m: Frame) => m.id)).toEqual([3, 4, 5, 6, 7]);
    const id = await say(writer, 'after-reset');
    expect(id).toBe(8);
    await c.waitFor((f) => isMsg(room)(f) && f.id === 8 && f.text === 'after-reset');
  });

  it('after a reset on a room with no history, delivers the room\'s new messages (ids restart below the client\'s id)', async () => {
    const room = 'h4fresh';
    const writer = track(await connectV1(a.wsUrl, 'writer4', { room }));
    const c = track(await connect(b.wsUrl, 'resetter4', { v1: true, room, after: 5 }));
    const hist = await c.waitFor((f) => f.type === 'history');
    expect(hist).toMatchObject({ room, reset: true, gap: null, messages: [] });
    for (let i = 1; i <= 6; i++) expect(await say(writer, `fresh${i}`)).toBe(i);
    // A sentinel from a third user proves the stream flows; the six messages must be there before it.
    const other = track(await connectV1(a.wsUrl, 'writer4b', { room }));
    await say(other, 'sentinel');
    await c.waitFor((f) => isMsg(room)(f) && f.text === 'sentinel');
    expect(c.frames.filter(isMsg(room)).map((f) => f.id)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('sends legacy clients no history frame and no replay, only live messages', async () => {
    const room = 'h5';
    const writer = track(await connectV1(a.wsUrl, 'writer5', { room }));
    for (let i = 1; i <= 4; i++) await say(writer, `old${i}`);
    const legacy = track(await connectLegacy(b.wsUrl, 'legacy5'));
    legacy.send({ type: 'join_room', room });
    await legacy.waitFor((f) => f.type === 'system_message' && f.content === `legacy5 joined the room ${room}`);
    await say(writer, 'live1');
    await legacy.waitFor((f) => f.type === 'chat_message' && f.content === 'live1');
    expect(legacy.frames.filter((f) => f.type === 'history' || 'messages' in f)).toEqual([]);
    expect(legacy.frames.filter((f) => f.type === 'chat_message').map((f) => f.content)).toEqual(['live1']);
    // A legacy client that sends "after" in the URL still gets no history.
    const legacy2 = track(await connect(b.wsUrl, 'legacy5b', { room, after: 1 }));
    await legacy2.waitFor((f) => f.type === 'system_message' && f.content === `legacy5b joined the room ${room}`);
    await say(writer, 'live2');
    await legacy2.waitFor((f) => f.type === 'chat_message' && f.content === 'live2');
    expect(legacy2.frames.filter((f) => f.type === 'history' || f.type === 'welcome' || 'messages' in f)).toEqual([]);
    expect(legacy2.frames.filter((f) => f.type === 'chat_message').map((f) => f.content)).toEqual(['live2']);
  });
});

describe('history gap when the resume point was trimmed (HISTORY_SIZE 10)', () => {
  let w: WorkerHandle;
  let w2: WorkerHandle;
  const clients: TestClient[] = [];
  const SIZE = 10;
  const ON_JOIN_G = 3;

  beforeAll(async () => {
    const prefix = uniquePrefix('histgap');
    const env = { HISTORY_SIZE: String(SIZE), HISTORY_ON_JOIN: String(ON_JOIN_G), ...FAST };
    [w, w2] = await Promise.all([
      startWorker({ natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix, id: 'gapA', env }),
      startWorker({ natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix, id: 'gapB', env }),
    ]);
  });

  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') for (const x of [w, w2]) if (x) console.log(`--- ${x.id} logs\n${x.logs.slice(-30).join('\n')}`);
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all([w?.stop(), w2?.stop()]);
  });

  it('reports exactly the trimmed ids as gap {from,to}, the kept ones as messages, and reset beyond the end', async () => {
    const room = 'g';
    const writer = await connectV1(w.wsUrl, 'gwriter', { room });
    clients.push(writer);
    for (let i = 1; i <= 25; i++) expect(await say(writer, `g${i}`)).toBe(i);
    // Ids 16..25 are kept.

    // Plain join: HISTORY_ON_JOIN (3) recent messages, no gap.
    const plain = await connectV1(w2.wsUrl, 'gplain', { room });
    clients.push(plain);
    expect(plain.ofType('history')[0]).toMatchObject({ gap: null, reset: false });
    expect(plain.ofType('history')[0].messages.map((m: Frame) => m.id)).toEqual([23, 24, 25]);

    // Resume by URL from an id long trimmed.
    const byUrl = await connect(w2.wsUrl, 'gurl', { v1: true, room, after: 3 });
    clients.push(byUrl);
    const h = await byUrl.waitFor((f) => f.type === 'history');
    expect(h.gap).toEqual({ from: 4, to: 15 });
    expect(h.reset).toBe(false);
    expect(h.messages.map((m: Frame) => m.id)).toEqual(range(16, 25));
    expect(h.messages.map((m: Frame) => m.text)).toEqual(range(16, 25).map((i) => `g${i}`));

    // Resume by join frame, re-syncing the same room, for several resume points.
    const c = await connectV1(w2.wsUrl, 'gframe', { room });
    clients.push(c);
    const cases: [after: number, gap: { from: number; to: number } | null, ids: number[], reset: boolean][] = [
      [0, { from: 1, to: 15 }, range(16, 25), false],
      [1, { from: 2, to: 15 }, range(16, 25), false],
      [14, { from: 15, to: 15 }, range(16, 25), false],
      [15, null, range(16, 25), false],
      [20, null, range(21, 25), false],
      [24, null, [25], false],
      [25, null, [], false],
      [26, null, [23, 24, 25], true],
      [1000, null, [23, 24, 25], true],
    ];
    for (const [after, gap, ids, reset] of cases) {
      const ref = `after-${after}`;
      const got = await c.request({ type: 'join', room, after, ref }, (f) => f.type === 'history' && f.ref === ref);
      expect({ after, gap: got.gap, reset: got.reset, ids: got.messages.map((m: Frame) => m.id) }).toEqual({ after, gap, reset, ids });
    }

    // Live traffic goes on after the re-syncs, with the next id.
    expect(await say(writer, 'g26')).toBe(26);
    await c.waitFor((f) => isMsg(room)(f) && f.id === 26);
    expect(c.ofType('error')).toEqual([]);
  });
});
