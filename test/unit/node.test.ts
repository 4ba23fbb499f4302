/**
 * ChatNode end to end in memory mode: real HTTP/WebSocket servers on 127.0.0.1, real ws
 * clients, and two nodes sharing one MemoryBus, MemoryPresence and MemoryHistory as two
 * workers of one cluster. No external servers.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { MemoryHistory } from '../../src/history/memory';
import { MemoryPresence } from '../../src/presence/memory';
import { CloseCode, ErrorCode } from '../../src/protocol';
import { connect, presenceChanges, type Frame, type TestClient } from '../support/client';
import { clusterPerTest } from './memory-cluster';

/**
 * A MemoryPresence whose join of user `hold` into room "r" waits for release(); `held` resolves
 * once that join has started waiting. Holds a join open so a test can act inside the window.
 */
function gatedJoin() {
  let release!: () => void;
  let entered!: () => void;
  const held = new Promise<void>((r) => (entered = r));
  const gate = new Promise<void>((r) => (release = r));
  class SlowPresence extends MemoryPresence {
    hold: string | null = null;
    override async join(user: string, room: string): Promise<void> {
      if (user === this.hold && room === 'r') {
        entered();
        await gate;
      }
      return super.join(user, room);
    }
  }
  return { held, release: () => release(), SlowPresence };
}


const start = clusterPerTest();

let seq = 0;

/** v1: a ping round trip; every frame the server sent this client before it has arrived. */
async function sync(c: TestClient): Promise<void> {
  const ref = `sync-${++seq}`;
  await c.request({ type: 'ping', ref }, (f) => f.type === 'pong' && f.ref === ref);
}

/** Original dialect: a list_rooms round trip, for the same purpose. */
async function syncLegacy(c: TestClient): Promise<void> {
  await c.request({ type: 'list_rooms' }, (f) => f.type === 'system_message' && typeof f.content === 'string' && f.content.startsWith('Rooms:'));
}

const isMsg = (from: string, text?: string) => (f: Frame) =>
  f.type === 'message' && f.from === from && (text === undefined || f.text === text);
const isChat = (sender: string, text?: string) => (f: Frame) =>
  f.type === 'chat_message' && f.sender === sender && (text === undefined || f.content === text);
const isSystem = (content: string) => (f: Frame) => f.type === 'system_message' && f.content === content;
const isError = (code: string) => (f: Frame) => f.type === 'error' && f.code === code;
const isLegacyError = (code: string) => (f: Frame) => f.type === 'system_message' && f.code === code;

/** Sends `count` chat messages (v1) and waits for all their acks; returns the ack ids. */
async function post(c: TestClient, texts: string[]): Promise<number[]> {
  const from = c.frames.length;
  const refs = texts.map(() => `p-${++seq}`);
  texts.forEach((text, i) => c.send({ type: 'message', text, ref: refs[i] }));
  const acks: number[] = [];
  for (const ref of refs) {
    const ack = await c.waitFor((f) => f.type === 'ack' && f.ref === ref, { from, what: `ack ${ref}` });
    acks.push(ack.id);
  }
  return acks;
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

// ------------------------------------------------------------------------------------------

describe('connecting', () => {
  it('v1: welcome, then joined, then history, in that order', async () => {
    const c = await start({ env: { MAX_MESSAGE_LENGTH: '500', HISTORY_ON_JOIN: '9', RATE_LIMIT_PER_SEC: '11' } });
    const alice = await c.v1(0, 'alice');
    expect(alice.frames.slice(0, 3).map((f) => f.type)).toEqual(['welcome', 'joined', 'history']);
    expect(alice.frames[0]).toEqual({
      type: 'welcome',
      user: 'alice',
      room: 'global',
      worker: 'n0',
      shard: '0',
      protocol: 'chatfabric.v1',
      limits: { maxFrameBytes: 16384, maxMessageLength: 500, historyOnJoin: 9, ratePerSec: 11 },
    });
    expect(alice.frames[1]).toEqual({ type: 'joined', room: 'global', users: ['alice'], count: 1 });
    expect(alice.frames[2]).toEqual({ type: 'history', room: 'global', messages: [], gap: null, reset: false });
    expect(alice.ws.protocol).toBe('chatfabric.v1');
  });

  it('v1: ?room= picks the first room; welcome and joined name it', async () => {
    const c = await start();
    const alice = await c.v1(1, 'alice', { room: 'dev' });
    expect(alice.ofType('welcome')[0]).toMatchObject({ room: 'dev', worker: 'n1', shard: '1' });
    expect(alice.ofType('joined')[0]).toEqual({ type: 'joined', room: 'dev', users: ['alice'], count: 1 });
  });

  it('original dialect: no subprotocol, and the first frame is its own join notice', async () => {
    const c = await start();
    const alice = await c.legacy(0, 'alice');
    expect(alice.ws.protocol).toBe('');
    expect(alice.frames[0]).toMatchObject({
      type: 'system_message',
      sender: 'system',
      content: 'alice joined the room global',
      room: 'global',
    });
    expect(alice.frames[0].timestamp).toMatch(ISO);
    expect(alice.ofType('welcome')).toHaveLength(0);
    expect(alice.ofType('history')).toHaveLength(0);
  });

  it('refuses a bad upgrade with an HTTP status before the WebSocket opens', async () => {
    const c = await start();
    await expect(c.raw(0, null)).rejects.toMatchObject({ status: 400, body: expect.stringContaining('username') });
    await expect(c.raw(0, '')).rejects.toMatchObject({ status: 400 });
    await expect(c.raw(0, 'a.b')).rejects.toMatchObject({ status: 400, body: expect.stringContaining('invalid username') });
    await expect(c.raw(0, 'x'.repeat(33))).rejects.toMatchObject({ status: 400 });
    await expect(c.raw(0, 'alice', { room: 'a b' })).rejects.toMatchObject({ status: 400, body: expect.stringContaining('room') });
    await expect(c.raw(0, 'alice', { query: 'after=-1' })).rejects.toMatchObject({ status: 400, body: expect.stringContaining('after') });
    await expect(c.raw(0, 'alice', { query: 'after=abc' })).rejects.toMatchObject({ status: 400 });
    await expect(c.raw(0, 'alice', { session: 'short' })).rejects.toMatchObject({ status: 400, body: expect.stringContaining('session') });
    const http = c.nodes[0].httpUrl;
    const wrongPath = c.nodes[0].wsUrl.replace('/ws', '/chat');
    await expect(connect(wrongPath, 'alice')).rejects.toMatchObject({ status: 404 });
    expect((await fetch(`${http}/ws`)).status).toBe(426);
    expect((await fetch(`${http}/healthz`)).status).toBe(200);
    // None of the refused attempts left a trace: alice can still connect.
    const alice = await c.v1(0, 'alice');
    expect(alice.ofType('joined')[0].users).toEqual(['alice']);
  });

  it('refuses connections above MAX_CONNECTIONS with 503', async () => {
    const c = await start({ nodes: 1, env: { MAX_CONNECTIONS: '1' } });
    const alice = await c.v1(0, 'alice');
    await expect(c.raw(0, 'bob')).rejects.toMatchObject({ status: 503, body: expect.stringContaining('full') });
    // A closed connection frees its slot.
    await alice.close();
    const bob = await vi.waitFor(() => c.v1(0, 'bob'), { timeout: 5000, interval: 50 });
    expect(bob.ofType('welcome')).toHaveLength(1);
  });

  it('reads ?after strictly: digits only', async () => {
    const c = await start({ nodes: 1 });
    for (const after of ['', '1e3', '+5', '0x10', '1.0', ' 7']) {
      await expect(c.raw(0, 'alice', { query: `after=${encodeURIComponent(after)}` }), after).rejects.toMatchObject({ status: 400 });
    }
    const alice = await c.v1(0, 'alice', { query: 'after=0' });
    expect(alice.ofType('history')[0]).toMatchObject({ gap: null, reset: false });
  });
});

describe('chat across nodes', () => {
  it('delivers to every member on both nodes in both dialects, never echoes to the sender, and keeps rooms apart', async () => {
    const c = await start();
    const alice = await c.v1(0, 'alice');
    const dave = await c.legacy(0, 'dave');
    const bob = await c.legacy(1, 'bob');
    const carol = await c.v1(1, 'carol');
    const erin = await c.v1(1, 'erin', { room: 'other' });

    const ack = await alice.request({ type: 'message', text: 'hello', ref: 'r1' }, (f) => f.type === 'ack');
    expect(ack).toEqual({ type: 'ack', ref: 'r1', id: 1, room: 'global', ts: expect.stringMatching(ISO) });
    const toCarol = await carol.waitFor(isMsg('alice', 'hello'));
    expect(toCarol).toEqual({ type: 'message', id: 1, room: 'global', from: 'alice', text: 'hello', ts: ack.ts });
    const toBob = await bob.waitFor(isChat('alice', 'hello'));
    expect(toBob).toMatchObject({ type: 'chat_message', sender: 'alice', content: 'hello', room: 'global', timestamp: ack.ts, id: 1 });
    await dave.waitFor(isChat('alice', 'hello'));

    // The original dialect sends and gets no ack (as the Go server).
    bob.send({ type: 'chat_message', content: 'hey there' });
    const fromBob = await alice.waitFor(isMsg('bob', 'hey there'));
    expect(fromBob.id).toBe(2);
    await carol.waitFor(isMsg('bob', 'hey there'));
    await dave.waitFor(isChat('bob', 'hey there'));

    // Fan-out to dave (same node as alice) and carol (same node as bob) happened in the same
    // pass as any echo would have; a round trip on the senders' own sockets flushes them.
    await sync(alice);
    await syncLegacy(bob);
    await sync(erin);
    expect(alice.frames.filter(isMsg('alice'))).toHaveLength(0);
    expect(alice.ofType('ack')).toHaveLength(1);
    expect(bob.frames.filter(isChat('bob'))).toHaveLength(0);
    expect(erin.ofType('message')).toHaveLength(0);
    // Each receiver got each message exactly once.
    expect(carol.ofType('message').map((f) => f.id)).toEqual([1, 2]);
    expect(dave.ofType('chat_message').map((f) => f.id)).toEqual([1, 2]);
  });

  it('keeps one sender\'s messages in order for a receiver on another node', async () => {
    const c = await start({ env: { RATE_LIMIT_PER_SEC: '1000', RATE_LIMIT_BURST: '1000' } });
    const alice = await c.v1(0, 'alice');
    const bob = await c.v1(1, 'bob');
    const texts = Array.from({ length: 100 }, (_, i) => `m${i}`);
    const ids = await post(alice, texts);
    expect(ids).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    const got = await bob.waitForCount(isMsg('alice'), 100);
    expect(got.map((f) => f.text)).toEqual(texts);
    expect(got.map((f) => f.id)).toEqual(ids);
  });

  it('a direct message reaches its user on the other node, in both dialects', async () => {
    const c = await start();
    const alice = await c.legacy(0, 'alice');
    const bob = await c.v1(1, 'bob', { room: 'elsewhere' });

    const ack = await bob.request({ type: 'direct', to: 'alice', text: 'psst', ref: 'd1' }, (f) => f.ref === 'd1');
    expect(ack).toMatchObject({ type: 'ack', ref: 'd1', ts: expect.stringMatching(ISO) });
    expect(typeof ack.id).toBe('string');
    const got = await alice.waitFor((f) => f.type === 'chat_message' && f.direct === true);
    expect(got).toMatchObject({ sender: 'bob', content: 'psst', to: 'alice', room: 'global', timestamp: ack.ts });

    alice.send({ type: 'chat_message', content: '/msg bob hi there' });
    const direct = await bob.waitFor((f) => f.type === 'direct');
    expect(direct).toMatchObject({ from: 'alice', to: 'bob', text: 'hi there', ts: expect.stringMatching(ISO) });
    expect(typeof direct.id).toBe('string');
    await alice.waitFor(isSystem('direct message sent to bob'));
    // Direct messages are not room traffic.
    expect(bob.ofType('message')).toHaveLength(0);
  });

  it('a direct message to nobody is user_offline', async () => {
    const c = await start();
    const alice = await c.legacy(0, 'alice');
    const bob = await c.v1(1, 'bob');
    const err = await bob.request({ type: 'direct', to: 'ghost', text: 'hi', ref: 'g' }, (f) => f.ref === 'g');
    expect(err).toMatchObject({ type: 'error', code: ErrorCode.UserOffline, ref: 'g' });
    alice.send({ type: 'chat_message', content: '/msg ghost hi' });
    const legacyErr = await alice.waitFor(isLegacyError(ErrorCode.UserOffline));
    expect(legacyErr.content).toMatch(/^error: /);
    expect(legacyErr.content).toContain('ghost');
  });
});

describe('join and leave notices', () => {
  it('are exact in the original dialect and typed in the extended one, across nodes', async () => {
    const c = await start();
    const bob = await c.legacy(1, 'bob');
    const carol = await c.v1(1, 'carol');

    const alice = await c.legacy(0, 'alice');
    const joined = await bob.waitFor(isSystem('alice joined the room global'));
    expect(joined).toMatchObject({ type: 'system_message', sender: 'system', room: 'global', event: 'user_joined', user: 'alice' });
    expect(joined.timestamp).toMatch(ISO);
    const uj = await carol.waitFor((f) => f.type === 'user_joined' && f.user === 'alice');
    expect(uj).toEqual({ type: 'user_joined', room: 'global', user: 'alice', ts: expect.stringMatching(ISO) });

    // A room change: the old room hears a leave, the new one a join.
    const ed = c.track(await connect(c.url(1), 'ed', { room: 'dev' }));
    await ed.waitFor(isSystem('ed joined the room dev'));
    alice.send({ type: 'join_room', room: 'dev' });
    const left = await bob.waitFor(isSystem('alice left the room'));
    expect(left).toMatchObject({ sender: 'system', room: 'global', event: 'user_left', user: 'alice' });
    const ul = await carol.waitFor((f) => f.type === 'user_left' && f.user === 'alice');
    expect(ul).toEqual({ type: 'user_left', room: 'global', user: 'alice', ts: expect.stringMatching(ISO), reason: 'left' });
    await alice.waitFor(isSystem('alice joined the room dev'));
    await ed.waitFor(isSystem('alice joined the room dev'));

    // /leave returns to global.
    alice.send({ type: 'chat_message', content: '/leave' });
    await ed.waitFor(isSystem('alice left the room'));
    await bob.waitFor(isSystem('alice joined the room global'), { from: bob.frames.indexOf(left) });
    await carol.waitFor((f) => f.type === 'user_joined' && f.user === 'alice', { from: carol.frames.indexOf(ul) });

    // A disconnect is a leave with reason "disconnected".
    const dave = await c.v1(0, 'dave', { room: 'dev' });
    await ed.waitFor(isSystem('dave joined the room dev'));
    await dave.close();
    await ed.waitFor(isSystem('dave left the room'));
    alice.terminate();
    const gone = await carol.waitFor((f) => f.type === 'user_left' && f.user === 'alice' && f.reason === 'disconnected');
    expect(gone.room).toBe('global');
    await bob.waitFor(isSystem('alice left the room'), { from: bob.frames.indexOf(left) + 1 });
  });

  it('original dialect: leave_room in global says so and changes nothing', async () => {
    const c = await start();
    const alice = await c.legacy(0, 'alice');
    const reply = await alice.request({ type: 'leave_room' }, (f) => f.type === 'system_message' && f !== alice.frames[0]);
    expect(reply.content).toBe('you are already in global');
  });

  it('joining the room you are already in tells nobody: a reply (original) or a re-sync (v1)', async () => {
    const c = await start();
    const bob = await c.v1(1, 'bob');
    const alice = await c.legacy(0, 'alice');
    const carol = await c.v1(0, 'carol');
    await bob.waitFor((f) => f.type === 'user_joined' && f.user === 'carol');
    const reply = await alice.request({ type: 'join_room', room: 'global' }, (f) => f.type === 'system_message' && f.content.startsWith('you are'));
    expect(reply.content).toBe('you are already in global');
    const from = carol.frames.length;
    carol.send({ type: 'join', room: 'global', ref: 'again' });
    expect(await carol.waitFor((f) => f.type === 'joined', { from })).toEqual({ type: 'joined', room: 'global', users: ['alice', 'bob', 'carol'], count: 3, ref: 'again' });
    await carol.waitFor((f) => f.type === 'history' && f.ref === 'again', { from });
    await sync(bob);
    expect(bob.frames.filter((f) => (f.type === 'user_joined' || f.type === 'user_left') && f.user !== 'bob').map((f) => `${f.type} ${f.user}`)).toEqual([
      'user_joined alice',
      'user_joined carol',
    ]);
  });

  it('v1: leave from another room goes back to global with a fresh room state', async () => {
    const c = await start();
    const alice = await c.v1(0, 'alice', { room: 'dev' });
    const from = alice.frames.length;
    alice.send({ type: 'leave', ref: 'L' });
    const joined = await alice.waitFor((f) => f.type === 'joined', { from });
    expect(joined).toEqual({ type: 'joined', room: 'global', users: ['alice'], count: 1, ref: 'L' });
    await alice.waitFor((f) => f.type === 'history' && f.room === 'global' && f.ref === 'L', { from });
  });
});

describe('users, rooms and help', () => {
  it('lists users and rooms cluster-wide in both dialects', async () => {
    const c = await start();
    const alice = await c.legacy(0, 'alice');
    const bob = await c.v1(1, 'bob');
    await c.v1(1, 'carol', { room: 'dev' });

    expect(await bob.request({ type: 'users', ref: 1 }, (f) => f.type === 'users')).toEqual({
      type: 'users',
      room: null,
      users: ['alice', 'bob', 'carol'],
      ref: 1,
    });
    expect(await bob.request({ type: 'users', room: 'dev' }, (f) => f.type === 'users')).toEqual({ type: 'users', room: 'dev', users: ['carol'] });
    expect(await bob.request({ type: 'rooms' }, (f) => f.type === 'rooms')).toEqual({
      type: 'rooms',
      rooms: [
        { name: 'dev', users: 1 },
        { name: 'global', users: 2 },
      ],
    });
    const unknown = await bob.request({ type: 'users', room: 'nowhere', ref: 'u' }, (f) => f.type === 'error');
    expect(unknown).toMatchObject({ code: ErrorCode.UnknownRoom, ref: 'u' });

    const users = await alice.request({ type: 'list_users' }, (f) => typeof f.content === 'string' && f.content.startsWith('Users'));
    expect(users).toMatchObject({ content: 'Users: alice, bob, carol', users: ['alice', 'bob', 'carol'] });
    const inDev = await alice.request({ type: 'chat_message', content: '/users dev' }, (f) => typeof f.content === 'string' && f.content.startsWith('Users'));
    expect(inDev.content).toBe('Users in dev: carol');
    const rooms = await alice.request({ type: 'chat_message', content: '/ROOMS' }, (f) => typeof f.content === 'string' && f.content.startsWith('Rooms'));
    expect(rooms).toMatchObject({ content: 'Rooms: dev (1), global (2)', rooms: [{ name: 'dev', users: 1 }, { name: 'global', users: 2 }] });
    const err = await alice.request({ type: 'list_users', room: 'nowhere' }, isLegacyError(ErrorCode.UnknownRoom));
    expect(err.content).toMatch(/^error: /);
  });

  it('help in both dialects lists every command', async () => {
    const c = await start();
    const bob = await c.v1(0, 'bob');
    const help = await bob.request({ type: 'help', ref: 'h' }, (f) => f.type === 'help');
    expect(help.ref).toBe('h');
    expect(help.commands.map((x: { usage: string }) => x.usage)).toEqual([
      '/help',
      '/users [room]',
      '/rooms',
      '/join <room>',
      '/leave',
      '/msg <user> <text>',
      '/quit',
    ]);
    for (const x of help.commands) expect(x.help.length).toBeGreaterThan(0);
    const viaCommand = await bob.request({ type: 'message', text: '/help', ref: 'h2' }, (f) => f.type === 'help' && f.ref === 'h2');
    expect(viaCommand.commands).toEqual(help.commands);

    const alice = await c.legacy(1, 'alice');
    const text = await alice.request({ type: 'chat_message', content: '/help' }, (f) => typeof f.content === 'string' && f.content.startsWith('Commands:'));
    expect(text).toMatchObject({ type: 'system_message', sender: 'system', room: 'global', commands: help.commands });
    for (const x of help.commands) expect(text.content).toContain(x.usage);
  });

  it('ping answers pong with the ref; the original dialect has no ping type', async () => {
    const c = await start();
    const bob = await c.v1(0, 'bob');
    expect(await bob.request({ type: 'ping', ref: 7 }, (f) => f.type === 'pong')).toEqual({ type: 'pong', ref: 7, ts: expect.stringMatching(ISO) });
    const noRef = await bob.request({ type: 'ping' }, (f) => f.type === 'pong' && f.ref === undefined);
    expect(noRef).toEqual({ type: 'pong', ts: expect.stringMatching(ISO) });
    const alice = await c.legacy(0, 'alice');
    const err = await alice.request({ type: 'ping' }, isLegacyError(ErrorCode.UnknownType));
    expect(err.content).toContain('chat_message');
  });

  it('"//x" sends the literal text "/x"; an unknown command is an error and sends nothing', async () => {
    const c = await start();
    const alice = await c.legacy(0, 'alice');
    const bob = await c.v1(1, 'bob');
    const err = await alice.request({ type: 'chat_message', content: '/dance' }, isLegacyError(ErrorCode.UnknownCommand));
    expect(err.content).toContain('/dance');
    alice.send({ type: 'chat_message', content: '//shrug' });
    const got = await bob.waitFor(isMsg('alice'));
    expect(got.text).toBe('/shrug');
    expect(bob.frames.filter(isMsg('alice'))).toHaveLength(1);
    const v1err = await bob.request({ type: 'message', text: '/Dance', ref: 'x' }, (f) => f.type === 'error');
    expect(v1err).toMatchObject({ code: ErrorCode.UnknownCommand, ref: 'x' });
  });

  it('chat text has control characters stripped before anyone sees it', async () => {
    const c = await start();
    const alice = await c.v1(0, 'alice');
    const bob = await c.legacy(1, 'bob');
    await alice.request({ type: 'message', text: '\u001b[2J\u001b[31mred\u0007', ref: 'a' }, (f) => f.type === 'ack');
    const got = await bob.waitFor(isChat('alice'));
    expect(got.content).not.toMatch(/[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/);
    expect(got.content).toContain('red');
  });
});

describe('history', () => {
  it('a v1 client joining gets the last HISTORY_ON_JOIN messages, oldest first', async () => {
    const c = await start({ env: { HISTORY_ON_JOIN: '3' } });
    const alice = await c.v1(0, 'alice');
    expect(await post(alice, ['m1', 'm2', 'm3', 'm4', 'm5'])).toEqual([1, 2, 3, 4, 5]);

    const bob = await c.v1(1, 'bob');
    const h = bob.ofType('history')[0];
    expect(h).toMatchObject({ room: 'global', gap: null, reset: false });
    expect(h.messages).toEqual([3, 4, 5].map((id) => ({ id, room: 'global', from: 'alice', text: `m${id}`, ts: expect.stringMatching(ISO) })));
    // Live messages after the history are not repeated.
    await post(alice, ['m6']);
    await bob.waitFor(isMsg('alice', 'm6'));
    await sync(bob);
    expect(bob.ofType('message').map((f) => f.id)).toEqual([6]);

    // A join frame into another room: that room's history, with the ref.
    const carol = await c.v1(0, 'carol', { room: 'dev' });
    await post(carol, ['d1', 'd2']);
    const from = bob.frames.length;
    bob.send({ type: 'join', room: 'dev', ref: 'j' });
    const dev = await bob.waitFor((f) => f.type === 'history' && f.room === 'dev', { from });
    expect(dev.ref).toBe('j');
    expect(dev.messages.map((m: Frame) => m.text)).toEqual(['d1', 'd2']);
  });

  it('HISTORY_ON_JOIN=0 sends an empty history', async () => {
    const c = await start({ env: { HISTORY_ON_JOIN: '0' } });
    const alice = await c.v1(0, 'alice');
    await post(alice, ['m1', 'm2']);
    const bob = await c.v1(1, 'bob');
    expect(bob.ofType('history')[0]).toMatchObject({ messages: [], gap: null, reset: false });
  });

  it('the original dialect gets no history replay on join', async () => {
    const c = await start();
    const alice = await c.v1(0, 'alice');
    await post(alice, ['m1', 'm2']);
    const bob = await c.legacy(1, 'bob');
    await syncLegacy(bob);
    expect(bob.ofType('chat_message')).toHaveLength(0);
    expect(bob.ofType('history')).toHaveLength(0);
  });

  it('resume with ?room&after: everything after the id, however many, then live', async () => {
    const c = await start({ env: { HISTORY_ON_JOIN: '2', RATE_LIMIT_PER_SEC: '1000', RATE_LIMIT_BURST: '1000' } });
    const bob = await c.v1(0, 'bob', { room: 'r' });
    await post(bob, Array.from({ length: 10 }, (_, i) => `m${i + 1}`));
    const alice = await c.v1(1, 'alice', { room: 'r', after: 3 });
    const h = alice.ofType('history')[0];
    expect(h.messages.map((m: Frame) => m.id)).toEqual([4, 5, 6, 7, 8, 9, 10]);
    expect(h).toMatchObject({ room: 'r', gap: null, reset: false });
    await post(bob, ['m11']);
    await alice.waitFor((f) => f.type === 'message' && f.id === 11);
    await sync(alice);
    expect(alice.ofType('message').map((f) => f.id)).toEqual([11]);

    // Fully caught up: an empty history, and live messages still come.
    const carol = await c.v1(1, 'carol', { room: 'r', after: 11 });
    expect(carol.ofType('history')[0]).toMatchObject({ messages: [], gap: null, reset: false });
    await post(bob, ['m12']);
    await carol.waitFor((f) => f.type === 'message' && f.id === 12);
  });

  it('resume while the room is busy: no loss, no duplicates, in order, history before live', async () => {
    const c = await start({ env: { RATE_LIMIT_PER_SEC: '10000', RATE_LIMIT_BURST: '10000', HISTORY_SIZE: '5000' } });
    const bob = await c.v1(0, 'bob', { room: 'r' });
    await post(bob, Array.from({ length: 20 }, (_, i) => `warm${i}`));
    const total = 400;
    // Bob keeps talking, a few frames per event-loop turn, while alice reconnects from id 10
    // on the other node.
    const talking = (async () => {
      for (let i = 0; i < total; i++) {
        bob.send({ type: 'message', text: `busy${i}`, ref: `busy${i}` });
        if (i % 5 === 4) await new Promise((r) => setImmediate(r));
      }
    })();
    const alice = await c.v1(1, 'alice', { room: 'r', after: 10 });
    await talking;
    const lastAck = await bob.waitFor((f) => f.type === 'ack' && f.ref === `busy${total - 1}`, { timeoutMs: 10_000 });
    const last = lastAck.id as number;
    expect(last).toBe(20 + total);
    await alice.waitFor(
      (f) => (f.type === 'message' && f.id === last) || (f.type === 'history' && f.messages.some((m: Frame) => m.id === last)),
      { timeoutMs: 10_000, what: `message ${last}` },
    );
    await sync(alice);

    const historyAt = alice.frames.findIndex((f) => f.type === 'history');
    const firstLive = alice.frames.findIndex((f) => f.type === 'message');
    expect(historyAt).toBeGreaterThanOrEqual(0);
    expect(alice.frames[historyAt].messages.length).toBeGreaterThanOrEqual(10);
    if (firstLive >= 0) expect(historyAt).toBeLessThan(firstLive);
    const seen = [
      ...alice.frames[historyAt].messages.map((m: Frame) => m.id),
      ...alice.ofType('message').map((f) => f.id),
    ];
    expect(seen).toEqual(Array.from({ length: last - 10 }, (_, i) => 11 + i));
  });

  it('a join frame with after while already in the room re-sends from that id, then live without repeats', async () => {
    const c = await start();
    const bob = await c.v1(0, 'bob', { room: 'r' });
    const alice = await c.v1(1, 'alice', { room: 'r' });
    await post(bob, ['a', 'b', 'c', 'd']);
    await alice.waitForCount(isMsg('bob'), 4);
    const from = alice.frames.length;
    alice.send({ type: 'join', room: 'r', after: 2, ref: 'again' });
    const h = await alice.waitFor((f) => f.type === 'history' && f.ref === 'again', { from });
    expect(h.messages.map((m: Frame) => m.text)).toEqual(['c', 'd']);
    await post(bob, ['e']);
    await alice.waitFor(isMsg('bob', 'e'));
    await sync(alice);
    expect(alice.ofType('message').map((f) => f.text)).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('reports a gap when the ids after the resume point were trimmed', async () => {
    const c = await start({ env: { HISTORY_SIZE: '3' } });
    const bob = await c.v1(0, 'bob', { room: 'g' });
    await post(bob, ['1', '2', '3', '4', '5', '6']);

    const a = await c.v1(1, 'a', { room: 'g', after: 1 });
    expect(a.ofType('history')[0]).toMatchObject({ gap: { from: 2, to: 3 }, reset: false });
    expect(a.ofType('history')[0].messages.map((m: Frame) => m.id)).toEqual([4, 5, 6]);

    const b = await c.v1(1, 'b', { room: 'g', after: 0 });
    expect(b.ofType('history')[0]).toMatchObject({ gap: { from: 1, to: 3 }, reset: false });

    const d = await c.v1(1, 'd', { room: 'g', after: 3 });
    expect(d.ofType('history')[0]).toMatchObject({ gap: null, reset: false });
    expect(d.ofType('history')[0].messages.map((m: Frame) => m.id)).toEqual([4, 5, 6]);
  });

  it('reports a reset when the resume point is ahead of the room, and live messages still arrive', async () => {
    const c = await start();
    const bob = await c.v1(0, 'bob', { room: 'g' });
    await post(bob, ['1', '2']);
    const a = await c.v1(1, 'a', { room: 'g', after: 100 });
    const h = a.ofType('history')[0];
    expect(h).toMatchObject({ reset: true, gap: null });
    expect(h.messages.map((m: Frame) => m.id)).toEqual([1, 2]);
    await post(bob, ['3']);
    await a.waitFor((f) => f.type === 'message' && f.id === 3);
  });

  it('a resume into a room whose history is gone still delivers the room\'s new messages', async () => {
    // The room's history expired (or Redis lost it): ids start again at 1, below the client's after.
    const c = await start();
    const a = await c.v1(1, 'a', { room: 'fresh', after: 5 });
    expect(a.ofType('history')[0]).toMatchObject({ messages: [], reset: true });
    const bob = await c.v1(0, 'bob', { room: 'fresh' });
    const [id] = await post(bob, ['after the reset']);
    expect(id).toBe(1);
    await a.waitFor(isMsg('bob', 'after the reset'), { timeoutMs: 2000, what: 'the first message after a history reset' });
  });

  it('a message sent while the history is being read comes live, after the history frame', async () => {
    let release!: () => void;
    let entered!: () => void;
    const held = new Promise<void>((r) => (entered = r));
    const gate = new Promise<void>((r) => (release = r));
    class SlowHistory extends MemoryHistory {
      hold = false;
      override async recent(room: string, limit: number) {
        const batch = await super.recent(room, limit);
        if (this.hold) {
          this.hold = false;
          entered();
          await gate;
        }
        return batch;
      }
    }
    let history!: SlowHistory;
    const c = await start({
      history: (config) => (history = new SlowHistory({ size: config.history.size, idleTtlMs: config.history.idleTtlSec * 1000 })),
    });
    const bob = await c.v1(0, 'bob', { room: 'r' });
    await post(bob, ['before']);
    history.hold = true;
    const alice = await c.raw(1, 'alice', { v1: true, room: 'r' });
    await held; // alice's history snapshot is taken; it is not sent yet
    await post(bob, ['during']);
    release();
    const live = await alice.waitFor(isMsg('bob', 'during'));
    await sync(alice);
    const h = alice.ofType('history')[0];
    expect(h.messages.map((m: Frame) => m.text)).toEqual(['before']);
    expect(alice.frames.indexOf(h)).toBeLessThan(alice.frames.indexOf(live));
    expect(alice.ofType('message').map((f) => f.text)).toEqual(['during']);
  });

  it('a message sent while a v1 client is joining arrives exactly once', async () => {
    const { held, release, SlowPresence } = gatedJoin();
    let presence!: SlowPresence;
    const c = await start({ presence: (config) => (presence = new SlowPresence({ ttlMs: config.presence.ttlMs })) });
    const bob = await c.v1(0, 'bob', { room: 'r' });
    const carol = await c.v1(0, 'carol');
    presence.hold = 'carol';
    const from = carol.frames.length;
    carol.send({ type: 'join', room: 'r', ref: 'j' });
    await held;
    await post(bob, ['while you were joining']);
    release();
    await carol.waitFor((f) => f.type === 'history' && f.ref === 'j', { from });
    await sync(carol);
    const inHistory = carol.ofType('history').flatMap((h) => h.messages).filter((m: Frame) => m.text === 'while you were joining');
    const live = carol.frames.filter(isMsg('bob', 'while you were joining'));
    expect(inHistory.length + live.length).toBe(1);
  });

  it('membership changes while a v1 client is joining reach it after its history', async () => {
    const { held, release, SlowPresence } = gatedJoin();
    let presence!: SlowPresence;
    const c = await start({ presence: (config) => (presence = new SlowPresence({ ttlMs: config.presence.ttlMs })) });
    const bob = await c.v1(0, 'bob', { room: 'r' });
    const carol = await c.v1(0, 'carol');
    presence.hold = 'carol';
    const from = carol.frames.length;
    carol.send({ type: 'join', room: 'r', ref: 'j' });
    await held;
    const dave = await c.v1(1, 'dave', { room: 'r' });
    await bob.waitFor((f) => f.type === 'user_joined' && f.user === 'dave');
    release();
    const history = await carol.waitFor((f) => f.type === 'history' && f.ref === 'j', { from });
    const joined = await carol.waitFor((f) => f.type === 'user_joined' && f.user === 'dave', {
      from,
      timeoutMs: 2000,
      what: 'user_joined of dave, who joined while carol was joining',
    });
    expect(carol.frames.indexOf(history)).toBeLessThan(carol.frames.indexOf(joined));
    expect(dave.closeCode).toBeNull();
  });

  it('a message sent while a v1 client is joining reaches it, even with HISTORY_ON_JOIN=0', async () => {
    // Presence writes are a network round trip in fabric mode; this presence lets the test hold one.
    const { held, release, SlowPresence } = gatedJoin();
    let presence!: SlowPresence;
    const c = await start({
      env: { HISTORY_ON_JOIN: '0' },
      presence: (config) => (presence = new SlowPresence({ ttlMs: config.presence.ttlMs })),
    });
    const bob = await c.v1(0, 'bob', { room: 'r' });
    const carol = await c.v1(0, 'carol');
    presence.hold = 'carol';
    const from = carol.frames.length;
    carol.send({ type: 'join', room: 'r', ref: 'j' });
    await held; // carol is a member of r on this node, her join not yet complete
    await post(bob, ['while you were joining']);
    release();
    await carol.waitFor((f) => f.type === 'history' && f.ref === 'j', { from });
    await carol.waitFor(isMsg('bob', 'while you were joining'), { timeoutMs: 2000, what: 'the message sent during the join' });
  });
});

describe('limits and abuse', () => {
  it('rate limiting: frames above the rate get rate_limited, are not sent, and the connection stays up', async () => {
    const c = await start({ env: { RATE_LIMIT_PER_SEC: '2', RATE_LIMIT_BURST: '3' } });
    const alice = await c.v1(0, 'alice');
    const bob = await c.v1(1, 'bob');
    const from = alice.frames.length;
    for (let i = 0; i < 6; i++) alice.send({ type: 'message', text: `m${i}`, ref: `m${i}` });
    const replies = await alice.waitForCount((f) => (f.type === 'ack' || f.type === 'error') && alice.frames.indexOf(f) >= from, 6);
    expect(replies.filter((f) => f.type === 'ack')).toHaveLength(3);
    const limited = replies.filter(isError(ErrorCode.RateLimited));
    expect(limited).toHaveLength(3);
    expect(limited[0].message).toContain('2');
    // Only the accepted three went out.
    await sync(bob);
    expect(bob.frames.filter(isMsg('alice')).map((f) => f.text)).toEqual(['m0', 'm1', 'm2']);
    expect(alice.closeCode).toBeNull();
    // Tokens come back with time: a ping is answered again.
    await vi.waitFor(
      async () => {
        const ref = `retry-${++seq}`;
        const at = alice.frames.length;
        alice.send({ type: 'ping', ref });
        const reply = await alice.waitFor((f) => (f.type === 'pong' && f.ref === ref) || isError(ErrorCode.RateLimited)(f), { from: at });
        expect(reply.type).toBe('pong');
      },
      { timeout: 5000, interval: 600 },
    );
    expect(alice.closeCode).toBeNull();
  });

  it('persistent rate-limit abuse closes with 4002', async () => {
    const c = await start({ env: { RATE_LIMIT_PER_SEC: '1', RATE_LIMIT_BURST: '1', ABUSE_MAX_ERRORS: '3' } });
    const alice = await c.v1(0, 'alice');
    const bob = await c.v1(1, 'bob');
    for (let i = 0; i < 20; i++) alice.send({ type: 'ping', ref: i });
    expect(await alice.closed).toBe(CloseCode.Abuse);
    expect(alice.frames.filter(isError(ErrorCode.RateLimited))).toHaveLength(4);
    const left = await bob.waitFor((f) => f.type === 'user_left' && f.user === 'alice');
    expect(left.reason).toBe('disconnected');
  });

  it('persistent bad frames close with 4002 after ABUSE_MAX_ERRORS, in both dialects', async () => {
    const c = await start({ env: { ABUSE_MAX_ERRORS: '3' } });
    const alice = await c.v1(0, 'alice');
    for (let i = 0; i < 3; i++) alice.send('not json');
    await alice.waitForCount(isError(ErrorCode.BadJson), 3);
    await sync(alice); // three errors are tolerated
    alice.send('{"type":');
    expect(await alice.closed).toBe(CloseCode.Abuse);
    expect(alice.frames.filter(isError(ErrorCode.BadJson))).toHaveLength(4);

    const bob = await c.legacy(1, 'bob');
    for (let i = 0; i < 10; i++) bob.send({ type: 'shout' });
    expect(await bob.closed).toBe(CloseCode.Abuse);
    const errs = bob.frames.filter(isLegacyError(ErrorCode.UnknownType));
    expect(errs).toHaveLength(4);
    expect(errs[0]).toMatchObject({ type: 'system_message', sender: 'system', room: 'global' });
    expect(errs[0].content).toMatch(/^error: unknown type "shout"/);
  });

  it('mistakes a person makes are answered but never close the connection', async () => {
    const c = await start({ env: { ABUSE_MAX_ERRORS: '2' } });
    const alice = await c.v1(0, 'alice');
    const bob = await c.legacy(1, 'bob');
    const v1Mistakes = [
      { type: 'message', text: '/dance' },
      { type: 'message', text: '   ' },
      { type: 'message', text: 'x'.repeat(2001) },
      { type: 'join', room: 'no.dots' },
      { type: 'users', room: 'empty-room' },
      { type: 'direct', to: 'ghost', text: 'hi' },
      { type: 'direct', to: 'bad name', text: 'hi' },
    ];
    for (let round = 0; round < 2; round++) {
      for (const frame of v1Mistakes) alice.send({ ...frame, ref: `m${round}` });
    }
    await alice.waitForCount((f) => f.type === 'error', v1Mistakes.length * 2);
    await sync(alice);
    expect(new Set(alice.ofType('error').map((f) => f.code))).toEqual(
      new Set([
        ErrorCode.UnknownCommand,
        ErrorCode.EmptyMessage,
        ErrorCode.MessageTooLong,
        ErrorCode.InvalidRoom,
        ErrorCode.UnknownRoom,
        ErrorCode.UserOffline,
        ErrorCode.InvalidUsername,
      ]),
    );
    for (let i = 0; i < 5; i++) bob.send({ type: 'chat_message', content: '/nope' });
    await bob.waitForCount(isLegacyError(ErrorCode.UnknownCommand), 5);
    await syncLegacy(bob);
    expect(alice.closeCode).toBeNull();
    expect(bob.closeCode).toBeNull();
  });

  it('a resume larger than MAX_BUFFERED_BYTES is delivered whole, not cut as a slow consumer', async () => {
    const c = await start({
      env: { HISTORY_SIZE: '3000', RATE_LIMIT_PER_SEC: '100000', RATE_LIMIT_BURST: '100000', MAX_BUFFERED_BYTES: '1048576' },
    });
    const bob = await c.v1(0, 'bob', { room: 'big' });
    const text = 'z'.repeat(2000);
    const count = 2500; // a ~5 MB history frame
    for (let i = 0; i < count; i++) bob.send({ type: 'message', text, ref: i });
    await bob.waitFor((f) => f.type === 'ack' && f.ref === count - 1, { timeoutMs: 20_000 });
    const alice = await c.raw(1, 'alice', { v1: true, room: 'big', after: 0 });
    const h = await alice.waitFor((f) => f.type === 'history', { timeoutMs: 20_000 });
    expect(h.messages).toHaveLength(count);
    expect(alice.raw.find((r) => r.startsWith('{"type":"history"'))!.length).toBeGreaterThan(4 * 1024 * 1024);
    await post(bob, ['after the big resume']);
    await alice.waitFor(isMsg('bob', 'after the big resume'));
    expect(alice.closeCode).toBeNull();
  });

  it('a binary frame is an error and the connection stays up', async () => {
    const c = await start();
    const alice = await c.v1(0, 'alice');
    alice.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    const err = await alice.waitFor(isError(ErrorCode.BinaryFrame));
    expect(err.message).toMatch(/binary/);
    await sync(alice);
    const bob = await c.legacy(1, 'bob');
    bob.ws.send(Buffer.from('{"type":"list_rooms"}'), { binary: true });
    const legacyErr = await bob.waitFor(isLegacyError(ErrorCode.BinaryFrame));
    expect(legacyErr.content).toMatch(/^error: /);
    await syncLegacy(bob);
    expect(alice.closeCode).toBeNull();
    expect(bob.closeCode).toBeNull();
  });

  it('a frame above MAX_FRAME_BYTES is frame_too_large, is not sent, and the connection stays up', async () => {
    const c = await start({ env: { MAX_FRAME_BYTES: '1024', MAX_PAYLOAD_BYTES: '4096' } });
    const alice = await c.v1(0, 'alice');
    const bob = await c.legacy(1, 'bob');
    const err = await alice.request({ type: 'message', text: 'x'.repeat(2000), ref: 'big' }, (f) => f.type === 'error');
    expect(err.code).toBe(ErrorCode.FrameTooLarge);
    expect(err.message).toContain('1024');
    await sync(alice);
    bob.send({ type: 'chat_message', content: 'y'.repeat(3000) });
    await bob.waitFor(isLegacyError(ErrorCode.FrameTooLarge));
    // Still connected and able to chat.
    await alice.request({ type: 'message', text: 'small', ref: 's' }, (f) => f.type === 'ack');
    await bob.waitFor(isChat('alice', 'small'));
    expect(bob.frames.filter(isChat('alice'))).toHaveLength(1);
    expect(alice.closeCode).toBeNull();
    expect(bob.closeCode).toBeNull();
  });

  it('a message longer than MAX_MESSAGE_LENGTH code points is message_too_long', async () => {
    const c = await start({ env: { MAX_MESSAGE_LENGTH: '5' } });
    const alice = await c.v1(0, 'alice');
    await alice.request({ type: 'message', text: '😀😀😀😀😀', ref: 'ok' }, (f) => f.type === 'ack' && f.ref === 'ok');
    const err = await alice.request({ type: 'message', text: '😀😀😀😀😀😀', ref: 'long' }, (f) => f.ref === 'long');
    expect(err).toMatchObject({ type: 'error', code: ErrorCode.MessageTooLong });
  });

  it('a frame above MAX_PAYLOAD_BYTES closes with 1009 and frees the name', async () => {
    const c = await start({ env: { MAX_FRAME_BYTES: '1024', MAX_PAYLOAD_BYTES: '4096' } });
    const alice = await c.v1(0, 'alice');
    const bob = await c.v1(1, 'bob');
    alice.send({ type: 'message', text: 'x'.repeat(5000) });
    expect(await alice.closed).toBe(CloseCode.MessageTooBig);
    const left = await bob.waitFor((f) => f.type === 'user_left' && f.user === 'alice');
    expect(left.reason).toBe('disconnected');
    expect(bob.frames.filter(isMsg('alice'))).toHaveLength(0);
    const again = await c.v1(0, 'alice');
    expect(again.ofType('joined')[0].users).toEqual(['alice', 'bob']);
  });

  it('errors echo the ref over the wire', async () => {
    const c = await start();
    const alice = await c.v1(0, 'alice');
    expect(await alice.request({ type: 'join', room: '*', ref: 'x1' }, (f) => f.type === 'error')).toMatchObject({
      code: ErrorCode.InvalidRoom,
      ref: 'x1',
    });
    expect(await alice.request({ type: 'message', text: '   ', ref: 2 }, (f) => f.type === 'error')).toMatchObject({
      code: ErrorCode.EmptyMessage,
      ref: 2,
    });
    expect(await alice.request({ type: 'nope', ref: 'x3' }, (f) => f.type === 'error')).toMatchObject({
      code: ErrorCode.UnknownType,
      ref: 'x3',
    });
    expect(await alice.request({ type: '__proto__', ref: 'x4' }, (f) => f.type === 'error')).toMatchObject({
      code: ErrorCode.UnknownType,
      ref: 'x4',
    });
    expect(await alice.request({ type: 'constructor' }, (f) => f.type === 'error')).toMatchObject({ code: ErrorCode.UnknownType });
    const from = alice.frames.length;
    alice.send([1, 2]);
    expect(await alice.waitFor((f) => f.type === 'error', { from })).toMatchObject({ code: ErrorCode.InvalidFrame });
    await sync(alice);
    expect(alice.closeCode).toBeNull();
  });
});

describe('names, sessions and closing', () => {
  it('a taken username gets an error and close 4001, and the holder is untouched', async () => {
    const c = await start();
    const alice = await c.v1(0, 'alice');
    const bob = await c.v1(1, 'bob');

    const dup = await c.raw(1, 'alice', { v1: true });
    expect(await dup.closed).toBe(CloseCode.UsernameTaken);
    expect(dup.frames).toEqual([{ type: 'error', code: ErrorCode.UsernameTaken, message: expect.stringContaining('alice') }]);

    const dupLegacy = await c.raw(0, 'alice');
    expect(await dupLegacy.closed).toBe(CloseCode.UsernameTaken);
    expect(dupLegacy.frames).toHaveLength(1);
    expect(dupLegacy.frames[0]).toMatchObject({ type: 'system_message', code: ErrorCode.UsernameTaken });
    expect(dupLegacy.frames[0].content).toMatch(/^error: .*already taken/);

    // A different session token does not take over either.
    const other = await c.raw(1, 'alice', { v1: true, session: 'x'.repeat(16) });
    expect(await other.closed).toBe(CloseCode.UsernameTaken);

    await sync(alice);
    await sync(bob);
    expect(alice.closeCode).toBeNull();
    expect(bob.frames.filter((f) => f.type === 'user_left' || (f.type === 'user_joined' && f.user === 'alice'))).toHaveLength(0);
    expect((await bob.request({ type: 'users' }, (f) => f.type === 'users')).users).toEqual(['alice', 'bob']);
    // Direct messages still reach the holder.
    await bob.request({ type: 'direct', to: 'alice', text: 'still you?', ref: 'd' }, (f) => f.type === 'ack');
    await alice.waitFor((f) => f.type === 'direct' && f.text === 'still you?');
  });

  it.each([
    ['on another node', 1],
    ['on the same node', 0],
  ])('session takeover %s: the old connection closes 4005, nobody hears a leave', async (_where, node) => {
    const c = await start();
    const session = 'sess-0123456789abcdef';
    const old = await c.v1(0, 'alice', { session });
    const bob = await c.v1(1, 'bob');

    const fresh = await c.v1(node, 'alice', { session });
    expect(await old.closed).toBe(CloseCode.SessionReplaced);
    expect(fresh.ofType('welcome')[0]).toMatchObject({ user: 'alice', worker: `n${node}` });
    expect(fresh.closeCode).toBeNull();

    // The new connection chats and receives direct messages; the cluster still lists alice.
    await fresh.request({ type: 'message', text: 'back again', ref: 'b' }, (f) => f.type === 'ack');
    await bob.waitFor(isMsg('alice', 'back again'));
    await bob.request({ type: 'direct', to: 'alice', text: 'welcome back', ref: 'd' }, (f) => f.type === 'ack' && f.ref === 'd');
    await fresh.waitFor((f) => f.type === 'direct' && f.text === 'welcome back');
    await sync(bob);
    expect(bob.frames.filter((f) => f.type === 'user_left')).toHaveLength(0);
    expect((await bob.request({ type: 'users' }, (f) => f.type === 'users')).users).toEqual(['alice', 'bob']);
    expect(old.frames.filter((f) => f.type === 'direct')).toHaveLength(0);
  });

  it('a client that stops answering pings is closed with 4004 and its leave announced', async () => {
    const c = await start({ env: { PING_INTERVAL_MS: '100' } });
    const bob = await c.v1(1, 'bob');
    const alice = await c.v1(0, 'alice');
    alice.ws.pause(); // reads nothing from now on, pings included
    const left = await bob.waitFor((f) => f.type === 'user_left' && f.user === 'alice');
    expect(left.reason).toBe('disconnected');
    alice.ws.resume();
    expect(await alice.closed).toBe(CloseCode.Unresponsive);
    // bob answers pings (ws does so automatically) and stays.
    await sync(bob);
    expect(bob.closeCode).toBeNull();
  });

  it('a user whose worker died expires: one user_left with reason timeout, and gone from the lists', async () => {
    const c = await start({ env: { PRESENCE_HEARTBEAT_MS: '100', PRESENCE_TTL_MS: '1000', PRESENCE_REAP_INTERVAL_MS: '50' } });
    const bob = await c.v1(1, 'bob');
    const carol = await c.legacy(0, 'carol');
    // A worker that holds "ghost" and then stops heartbeating: its entries are never refreshed.
    expect(await c.presence.claim('ghost', { worker: 'dead', conn: 'x', session: '' })).toMatchObject({ ok: true });
    await c.presence.join('ghost', 'global');
    expect((await bob.request({ type: 'users', room: 'global' }, (f) => f.type === 'users')).users).toEqual(['bob', 'carol', 'ghost']);

    const left = await bob.waitFor((f) => f.type === 'user_left' && f.user === 'ghost', { timeoutMs: 5000 });
    expect(left).toMatchObject({ room: 'global', reason: 'timeout' });
    await carol.waitFor(isSystem('ghost left the room'), { timeoutMs: 5000 });
    expect((await bob.request({ type: 'users', room: 'global' }, (f) => f.type === 'users')).users).toEqual(['bob', 'carol']);
    // Both nodes reap; the leave is announced once. Live users are kept alive by the heartbeat.
    await sync(bob);
    await syncLegacy(carol);
    expect(bob.frames.filter((f) => f.type === 'user_left')).toEqual([left]);
    expect(carol.frames.filter((f) => f.event === 'user_left')).toHaveLength(1);
    expect(bob.closeCode).toBeNull();
    expect(carol.closeCode).toBeNull();
  });

  it('a client whose claim another owner took is closed with 4007 at the next heartbeat', async () => {
    const c = await start({ env: { PRESENCE_HEARTBEAT_MS: '100', PRESENCE_TTL_MS: '1000' } });
    const session = 'claim-lost-session-0001';
    const alice = await c.v1(0, 'alice', { session });
    const hash = createHash('sha256').update(session).digest('hex').slice(0, 32);
    // Another owner with the same session hash takes the claim (as after a Redis failover).
    expect(await c.presence.claim('alice', { worker: 'elsewhere', conn: 'c1', session: hash })).toMatchObject({ ok: true });
    expect(await alice.closed).toBe(CloseCode.ClaimLost);
  });

  it('/quit closes with 1000 in both dialects, and others hear the leave', async () => {
    const c = await start();
    const bob = await c.v1(1, 'bob');
    const alice = await c.legacy(0, 'alice');
    alice.send({ type: 'chat_message', content: '/quit' });
    expect(await alice.closed).toBe(CloseCode.Normal);
    await bob.waitFor((f) => f.type === 'user_left' && f.user === 'alice' && f.reason === 'disconnected');

    const carol = await c.v1(0, 'carol');
    carol.send({ type: 'message', text: '/QUIT' });
    expect(await carol.closed).toBe(CloseCode.Normal);
    // Carol joins and quits within one notice window: the leave may come in a batch.
    await vi.waitFor(() => expect(presenceChanges(bob.frames).some((x) => x.kind === 'left' && x.user === 'carol')).toBe(true), { timeout: 5000 });
    expect((await bob.request({ type: 'users' }, (f) => f.type === 'users')).users).toEqual(['bob']);
  });

  it('drain() closes its clients with 1001, announces their leave, and refuses new upgrades', async () => {
    const c = await start();
    const alice = await c.v1(0, 'alice');
    const dave = await c.legacy(0, 'dave');
    const carol = await c.v1(1, 'carol');
    await c.nodes[0].node.drain();
    expect(await alice.closed).toBe(CloseCode.GoingAway);
    expect(await dave.closed).toBe(CloseCode.GoingAway);
    // Both leave at once: one notice may carry both.
    const left = (user: string) => presenceChanges(carol.frames).find((x) => x.kind === 'left' && x.user === user);
    await vi.waitFor(() => expect(left('alice')).toMatchObject({ reason: 'disconnected' }), { timeout: 5000 });
    await vi.waitFor(() => expect(left('dave')).toBeDefined(), { timeout: 5000 });
    expect((await carol.request({ type: 'users' }, (f) => f.type === 'users')).users).toEqual(['carol']);
    await expect(c.raw(0, 'alice')).rejects.toMatchObject({ status: 503 });
    // The other node carries on, and the names are free there.
    const again = await c.v1(1, 'alice');
    expect(again.ofType('joined')[0].users).toEqual(['alice', 'carol']);
  });
});
