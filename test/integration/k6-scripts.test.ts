/**
 * The k6 scripts' protocol module (loadtest/k6/lib/chat.js) against a real worker: one worker
 * process in memory mode, driven by `ws` clients that use only lib/chat.js to build their URLs
 * and frames and to classify what arrives, in both dialects, the resume path included. What the
 * k6 scripts would see, minus k6 (which cannot be installed here).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as chat from '../../loadtest/k6/lib/chat.js';
import { uniquePrefix } from '../support/prefix';
import { startWorker, type WorkerHandle } from '../support/worker';

type Ev = chat.ChatEvent;
type K6Dialect = 'v1' | 'original';

/** A client that records every frame as lib/chat.js classifies it. */
class Client {
  readonly events: Ev[] = [];
  closeCode: number | null = null;
  readonly closed: Promise<number>;
  private wake: (() => void)[] = [];

  constructor(
    readonly ws: WebSocket,
    readonly dialect: K6Dialect,
    readonly user: string,
  ) {
    ws.on('message', (data) => {
      this.events.push(chat.classify(dialect, data.toString(), user));
      for (const w of this.wake.splice(0)) w();
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code) => {
        this.closeCode = code;
        for (const w of this.wake.splice(0)) w();
        resolve(code);
      }),
    );
    ws.on('error', () => undefined);
  }

  send(frame: string): void {
    this.ws.send(frame);
  }

  /** Index of the next event; pass it as `from` to wait only for what comes after now. */
  get mark(): number {
    return this.events.length;
  }

  async waitFor(pred: (e: Ev) => boolean, what: string, from = 0, timeoutMs = 5000): Promise<Ev> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.slice(from).find(pred);
      if (hit) return hit;
      if (this.closeCode !== null) throw new Error(`${this.user}: closed (${this.closeCode}) while waiting for ${what}`);
      if (Date.now() > end) throw new Error(`${this.user}: no ${what} after ${timeoutMs} ms; got ${JSON.stringify(this.events.slice(-6).map((e) => e.frame ?? e))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.wake.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): Promise<number> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(chat.NORMAL_CLOSE);
    return this.closed;
  }
}

describe('k6 lib/chat.js against a real worker (memory mode)', () => {
  let worker: WorkerHandle;
  const open: Client[] = [];
  const prefix = chat.cleanPrefix(uniquePrefix('k6'));
  let n = 0;
  /** A fresh username from the same builder the scripts use. */
  const nextUser = () => chat.username(prefix, n++);

  async function connect(dialect: K6Dialect, q: chat.ConnectQuery, creds?: chat.Credentials): Promise<Client> {
    const ws = new WebSocket(chat.connectUrl(worker.wsUrl, q), chat.subprotocols(dialect, creds));
    const c = new Client(ws, dialect, q.username);
    open.push(c);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
    return c;
  }

  /** Connects and waits for the frame that proves the user is in its room. */
  async function join(dialect: K6Dialect, q: chat.ConnectQuery, creds?: chat.Credentials): Promise<Client> {
    const c = await connect(dialect, q, creds);
    await c.waitFor((e) => chat.provesInRoom(dialect, e), 'the frame proving the user is in the room');
    return c;
  }

  beforeAll(async () => {
    // Memory mode needs no NATS or Redis; the launcher wants URLs anyway, and nothing listens
    // on these, so a worker that tried to use them would never get ready.
    worker = await startWorker({
      natsUrl: 'nats://127.0.0.1:9',
      redisUrl: 'redis://127.0.0.1:9',
      prefix,
      id: 'k6-mem',
      env: { CHATFABRIC_MODE: 'memory', LOG_LEVEL: 'warn', HISTORY_SIZE: '10' },
    });
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });

  afterAll(async () => {
    await worker?.stop();
  });

  it('v1: welcome, joined, history, stamped message and ack, direct, presence, errors, quit', async () => {
    const room = chat.roomName(prefix, 1);
    const alice = await connect('v1', { username: nextUser(), room });
    const welcome = await alice.waitFor((e) => e.kind === 'welcome', 'welcome');
    expect(welcome).toMatchObject({ user: alice.user, room, worker: 'k6-mem' });
    expect(await alice.waitFor((e) => e.kind === 'joined', 'joined')).toMatchObject({ room, users: [alice.user] });
    const history = await alice.waitFor((e) => e.kind === 'history', 'history');
    expect(history).toMatchObject({ room, messages: [], gap: null, reset: false });
    expect(chat.provesInRoom('v1', history)).toBe(true);
    // The welcome, then the join; the proof is the history, not anything before it.
    expect(alice.events.findIndex((e) => chat.provesInRoom('v1', e))).toBe(2);

    const mark = alice.mark;
    const bob = await join('v1', { username: nextUser(), room });
    expect(await alice.waitFor((e) => e.kind === 'user_joined', 'bob joining', mark)).toMatchObject({ user: bob.user, room, own: false });
    expect(await bob.waitFor((e) => e.kind === 'user_joined' && e.own === true, 'own join notice')).toMatchObject({ room });

    const stamp = { sentAt: Date.now(), worker: welcome.worker!, seq: 1 };
    alice.send(chat.chatFrame('v1', chat.stampText(stamp, 5), 1));
    const ack = await alice.waitFor((e) => e.kind === 'ack', 'ack');
    expect(ack).toMatchObject({ room, ref: 1 });
    expect(typeof ack.id).toBe('number');
    const got = await bob.waitFor((e) => e.kind === 'message', 'the message');
    expect(got).toMatchObject({ room, from: alice.user, id: ack.id, stamp });
    expect(Date.now() - got.stamp!.sentAt).toBeGreaterThanOrEqual(0);
    expect(alice.events.some((e) => e.kind === 'message')).toBe(false);

    alice.send(chat.directFrame('v1', bob.user, chat.stampText({ ...stamp, seq: 2 }), 'd1'));
    const direct = await bob.waitFor((e) => e.kind === 'direct', 'the direct message');
    expect(direct).toMatchObject({ from: alice.user, to: bob.user, stamp: { ...stamp, seq: 2 } });
    expect(await alice.waitFor((e) => e.kind === 'direct_ack', 'the direct ack')).toMatchObject({ id: direct.id, ref: 'd1' });

    alice.send(chat.directFrame('v1', chat.username(prefix, 99999), 'anyone?', 'd2'));
    expect(await alice.waitFor((e) => e.kind === 'error' && e.ref === 'd2', 'user_offline')).toMatchObject({ code: 'user_offline' });
    alice.send(chat.commandFrame('v1', '/nope', 'c1'));
    expect(await alice.waitFor((e) => e.kind === 'error' && e.ref === 'c1', 'unknown_command')).toMatchObject({ code: 'unknown_command' });
    alice.send(chat.pingFrame('p1'));
    expect(await alice.waitFor((e) => e.kind === 'pong', 'pong')).toMatchObject({ ref: 'p1' });

    const before = alice.mark;
    const bobMark = bob.mark;
    bob.send(chat.leaveFrame('v1', 'l1'));
    expect(await alice.waitFor((e) => e.kind === 'user_left', 'bob leaving', before)).toMatchObject({ user: bob.user, room, reason: 'left', own: false });
    expect(await bob.waitFor((e) => e.kind === 'joined', 'joined global', bobMark)).toMatchObject({ room: chat.DEFAULT_ROOM, ref: 'l1' });
    expect(await bob.waitFor((e) => e.kind === 'history', 'history of global', bobMark)).toMatchObject({ room: chat.DEFAULT_ROOM });

    alice.send(chat.quitFrame('v1'));
    expect(await alice.closed).toBe(chat.NORMAL_CLOSE);
  });

  it('original: own join notice as the proof, stamped message with its id, /msg, presence, errors, /quit', async () => {
    const room = chat.roomName(prefix, 2);
    const erin = await connect('original', { username: nextUser(), room });
    const proof = await erin.waitFor((e) => chat.provesInRoom('original', e), 'own join notice');
    expect(proof).toMatchObject({ kind: 'user_joined', room, user: erin.user, own: true });
    expect(erin.events.some((e) => e.kind === 'welcome')).toBe(false);

    const mark = erin.mark;
    const frank = await join('original', { username: nextUser(), room });
    expect(await erin.waitFor((e) => e.kind === 'user_joined', 'frank joining', mark)).toMatchObject({ user: frank.user, own: false });

    const stamp = { sentAt: Date.now(), worker: '', seq: 7 };
    frank.send(chat.chatFrame('original', chat.stampText(stamp)));
    const got = await erin.waitFor((e) => e.kind === 'message', 'the message');
    expect(got).toMatchObject({ room, from: frank.user, stamp });
    expect(typeof got.id).toBe('number');

    frank.send(chat.directFrame('original', erin.user, chat.stampText({ ...stamp, seq: 8 })));
    expect(await erin.waitFor((e) => e.kind === 'direct', '/msg')).toMatchObject({ from: frank.user, to: erin.user, stamp: { ...stamp, seq: 8 } });
    expect(await frank.waitFor((e) => e.kind === 'direct_ack', 'the /msg confirmation')).toMatchObject({ to: erin.user });

    frank.send(chat.commandFrame('original', '/nope'));
    expect(await frank.waitFor((e) => e.kind === 'error', 'unknown_command')).toMatchObject({ code: 'unknown_command' });
    frank.send(chat.joinFrame('original', room));
    expect(await frank.waitFor((e) => e.kind === 'notice', 'already in')).toMatchObject({ text: `you are already in ${room}` });

    const before = erin.mark;
    const other = chat.roomName(prefix, 3);
    const frankMark = frank.mark;
    frank.send(chat.joinFrame('original', other));
    expect(await erin.waitFor((e) => e.kind === 'user_left', 'frank leaving', before)).toMatchObject({ user: frank.user, own: false });
    expect(await frank.waitFor((e) => chat.provesInRoom('original', e), 'own join of the other room', frankMark)).toMatchObject({ room: other });
    frank.send(chat.leaveFrame('original'));
    expect(await frank.waitFor((e) => e.kind === 'user_joined' && e.own === true && e.room === chat.DEFAULT_ROOM, 'back in global')).toBeTruthy();

    erin.send(chat.quitFrame('original'));
    expect(await erin.closed).toBe(chat.NORMAL_CLOSE);
  });

  it('v1 resume: a reconnect with after gets exactly the missed messages; the tracker sees no gap or duplicate', async () => {
    const room = chat.roomName(prefix, 4);
    const sender = await join('v1', { username: nextUser(), room });
    const carolName = nextUser();
    const session = chat.sessionToken(prefix, n);
    const tracker = chat.createTracker();
    const feed = (c: Client, from: number) => c.events.slice(from).map((e) => tracker.apply(e));

    tracker.expect(room, undefined, true);
    const carol = await join('v1', { username: carolName, room }, { session });
    const say = async (text: string) => {
      sender.send(chat.chatFrame('v1', chat.stampText({ sentAt: Date.now(), worker: '', seq: 0 }) + ` ${text}`, text));
      const ack = await sender.waitFor((e) => e.kind === 'ack' && e.ref === text, `ack of ${text}`);
      return ack.id as number;
    };
    const seen = [await say('m1'), await say('m2')];
    await carol.waitFor((e) => e.kind === 'message' && e.id === seen[1], 'm2');
    expect(feed(carol, 0).reduce((s, a) => s + a.duplicates, 0)).toBe(0);
    expect(tracker.resumeAfter(room)).toBe(seen[1]);
    await carol.close();

    const missed = [await say('m3'), await say('m4'), await say('m5')];
    const after = tracker.resumeAfter(room);
    tracker.expect(room, after, true);
    const back = await connect('v1', { username: carolName, room, after }, { session });
    const history = await back.waitFor((e) => e.kind === 'history', 'the resume history');
    expect(history.messages!.map((m) => m.id)).toEqual(missed);
    expect(history).toMatchObject({ gap: null, reset: false });
    const live = await say('m6');
    await back.waitFor((e) => e.kind === 'message' && e.id === live, 'm6 live');
    const applied = feed(back, 0);
    expect(applied.reduce((s, a) => s + a.duplicates, 0)).toBe(0);
    const settleUpTo = applied.find((a) => a.settleUpTo !== null)!.settleUpTo!;
    expect(settleUpTo).toBe(missed[2]);
    expect(tracker.lostUpTo(room, settleUpTo)).toBe(0);
    expect(tracker.resumeAfter(room)).toBe(live);
    expect(tracker.lostUpTo(room, tracker.highest(room))).toBe(0);
    // Each id exactly once on this connection: the history ones are not repeated live.
    const ids = back.events.filter((e) => e.kind === 'message').map((e) => e.id);
    expect(ids).toEqual([live]);

    // A join frame resumes too: leave, miss two, join with after.
    const mark = back.mark;
    back.send(chat.leaveFrame('v1'));
    await back.waitFor((e) => e.kind === 'history' && e.room === chat.DEFAULT_ROOM, 'global', mark);
    const missedAgain = [await say('m7'), await say('m8')];
    const joinMark = back.mark;
    tracker.expect(room, tracker.resumeAfter(room), true);
    back.send(chat.joinFrame('v1', room, tracker.resumeAfter(room), 'rejoin'));
    const rejoin = await back.waitFor((e) => e.kind === 'history' && e.room === room, 'the rejoin history', joinMark);
    expect(rejoin.messages!.map((m) => m.id)).toEqual(missedAgain);
    const rejoined = back.events.slice(joinMark).map((e) => tracker.apply(e));
    expect(rejoined.reduce((s, a) => s + a.duplicates, 0)).toBe(0);
    expect(tracker.lostUpTo(room, missedAgain[1])).toBe(0);
  });

  it('v1 resume after more than the history keeps: the gap is reported as trimmed, not lost', async () => {
    const room = chat.roomName(prefix, 5);
    const sender = await join('v1', { username: nextUser(), room });
    const tracker = chat.createTracker();
    const name = nextUser();
    tracker.expect(room, undefined, true);
    const dave = await join('v1', { username: name, room });
    dave.events.forEach((e) => tracker.apply(e));
    await dave.close();
    let last = 0;
    for (let i = 0; i < 14; i++) {
      sender.send(chat.chatFrame('v1', `m${i}`, i));
      last = (await sender.waitFor((e) => e.kind === 'ack' && e.ref === i, `ack ${i}`)).id as number;
    }
    const after = tracker.resumeAfter(room);
    expect(after).toBe(0);
    tracker.expect(room, after, true);
    const back = await join('v1', { username: name, room, after });
    const applied = back.events.map((e) => tracker.apply(e));
    // HISTORY_SIZE is 10: ids 1-4 are gone for good, 5-14 come back.
    expect(applied.reduce((s, a) => s + a.trimmed, 0)).toBe(4);
    expect(applied.reduce((s, a) => s + a.duplicates, 0)).toBe(0);
    expect(tracker.lostUpTo(room, last)).toBe(0);
    expect(tracker.resumeAfter(room)).toBe(last);
  });

  it('v1: a taken name is refused with 4001, a close code the scripts do not retry', async () => {
    const name = nextUser();
    await join('v1', { username: name });
    const second = await connect('v1', { username: name });
    const code = await second.closed;
    expect(code).toBe(4001);
    expect(second.events.find((e) => e.kind === 'error')).toMatchObject({ code: 'username_taken' });
    expect(chat.shouldReconnect(code)).toBe(false);
  });
});
