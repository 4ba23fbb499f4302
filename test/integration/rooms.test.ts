/**
 * Rooms across two real workers on the shared NATS and Redis: isolation, join/leave notices in
 * both dialects, leave back to global, case-sensitive names, list_users / list_rooms with their
 * structured fields, empty rooms vanishing, unknown rooms, and slash commands typed as chat text.
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { connectLegacy, connectV1, type Frame, type TestClient } from '../support/client';
import { uniquePrefix } from '../support/prefix';
import { startWorker, type WorkerHandle } from '../support/worker';

const sys = (content: string) => (f: Frame) => f.type === 'system_message' && f.content === content;
const joinedText = (user: string, room: string) => `${user} joined the room ${room}`;
const leftText = (user: string) => `${user} left the room`;

/** Legacy answer to list_users / list_rooms (or an error notice). */
const legacyReply = (f: Frame) =>
  f.type === 'system_message' && (Array.isArray(f.users) || Array.isArray(f.rooms) || typeof f.code === 'string');

let refSeq = 0;
const nextRef = () => `r${++refSeq}`;

async function v1Join(c: TestClient, room: string): Promise<Frame> {
  const ref = nextRef();
  const from = c.frames.length;
  c.send({ type: 'join', room, ref });
  const joined = await c.waitFor((f) => f.type === 'joined' && f.ref === ref, { from, what: `joined ${room}` });
  await c.waitFor((f) => f.type === 'history' && f.ref === ref, { from, what: `history of ${room}` });
  return joined;
}

async function legacyJoin(c: TestClient, room: string): Promise<void> {
  await c.request({ type: 'join_room', sender: c.username, content: '', timestamp: '', room }, sys(joinedText(c.username, room)));
}

async function v1Users(c: TestClient, room?: string): Promise<Frame> {
  const ref = nextRef();
  return c.request({ type: 'users', ...(room !== undefined && { room }), ref }, (f) => f.ref === ref && (f.type === 'users' || f.type === 'error'));
}

async function legacyUsers(c: TestClient, room?: string): Promise<Frame> {
  return c.request({ type: 'list_users', sender: c.username, content: '', timestamp: '', room: room ?? '' }, legacyReply);
}

async function v1Rooms(c: TestClient): Promise<Frame> {
  const ref = nextRef();
  return c.request({ type: 'rooms', ref }, (f) => f.ref === ref && (f.type === 'rooms' || f.type === 'error'));
}

async function legacyRooms(c: TestClient): Promise<Frame> {
  return c.request({ type: 'list_rooms', sender: c.username, content: '', timestamp: '', room: '' }, legacyReply);
}

describe('rooms across two workers', () => {
  let a: WorkerHandle;
  let b: WorkerHandle;
  let clients: TestClient[] = [];

  const v1 = async (w: WorkerHandle, name: string) => {
    const c = await connectV1(w.wsUrl, name);
    clients.push(c);
    return c;
  };
  const legacy = async (w: WorkerHandle, name: string) => {
    const c = await connectLegacy(w.wsUrl, name);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    const prefix = uniquePrefix('rooms');
    [a, b] = await Promise.all([
      startWorker({ natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix, id: 'roomsA' }),
      startWorker({ natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix, id: 'roomsB' }),
    ]);
  });

  afterEach(async () => {
    await Promise.all(clients.map((c) => c.close()));
    clients = [];
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('delivers a room message to its members on both workers and to nobody outside the room', async () => {
    const alice = await v1(a, 'iso_alice'); // dev, on A
    const bob = await legacy(b, 'iso_bob'); // dev, on B
    const carol = await v1(b, 'iso_carol'); // global, on B
    const dave = await legacy(a, 'iso_dave'); // global, on A
    await v1Join(alice, 'dev');
    await legacyJoin(bob, 'dev');

    const ack = await alice.request({ type: 'message', text: 'dev only from A', ref: 'm1' }, (f) => f.type === 'ack' && f.ref === 'm1');
    expect(ack).toMatchObject({ room: 'dev' });
    const atBob = await bob.waitFor((f) => f.type === 'chat_message' && f.content === 'dev only from A');
    expect(atBob).toMatchObject({ sender: 'iso_alice', room: 'dev', id: ack.id });

    bob.send({ type: 'chat_message', sender: 'iso_bob', content: 'dev only from B', timestamp: '', room: 'dev' });
    const atAlice = await alice.waitFor((f) => f.type === 'message' && f.text === 'dev only from B');
    expect(atAlice).toMatchObject({ from: 'iso_bob', room: 'dev' });

    // A marker in global, sent after both dev messages were delivered, reaches the global members;
    // by then a leaked dev message would have reached them too.
    await carol.request({ type: 'message', text: 'global marker', ref: 'g1' }, (f) => f.type === 'ack' && f.ref === 'g1');
    await dave.waitFor((f) => f.type === 'chat_message' && f.content === 'global marker');
    dave.send({ type: 'chat_message', content: 'global marker 2' });
    await carol.waitFor((f) => f.type === 'message' && f.text === 'global marker 2');

    for (const f of [...carol.frames, ...dave.frames]) {
      expect(JSON.stringify(f)).not.toContain('dev only');
    }
    expect(carol.ofType('message').every((f) => f.room === 'global')).toBe(true);
    expect(dave.ofType('chat_message').every((f) => f.room === 'global')).toBe(true);
    // Neither dev member saw the global traffic.
    expect(alice.ofType('message').map((f) => f.text)).toEqual(['dev only from B']);
    expect(bob.ofType('chat_message').map((f) => f.content)).toEqual(['dev only from A']);
  });

  it('announces joins and leaves across workers in both dialects, and leave returns to global', async () => {
    const room = 'notices';
    const watchV1 = await v1(a, 'nt_watch1'); // v1 watcher on A
    const watchLg = await legacy(b, 'nt_watch2'); // legacy watcher on B
    await v1Join(watchV1, room);
    await legacyJoin(watchLg, room);
    // The v1 watcher on A saw the legacy watcher on B arrive.
    const seen = await watchV1.waitFor((f) => f.type === 'user_joined' && f.user === 'nt_watch2' && f.room === room);
    expect(typeof seen.ts).toBe('string');

    // A legacy user on A joins and leaves.
    const lg = await legacy(a, 'nt_legacy');
    await legacyJoin(lg, room);
    const j1 = await watchV1.waitFor((f) => f.type === 'user_joined' && f.user === 'nt_legacy');
    expect(j1).toMatchObject({ room });
    expect(typeof j1.ts).toBe('string');
    const seenLg = await watchLg.waitFor(sys(joinedText('nt_legacy', room)));
    expect(seenLg).toMatchObject({ sender: 'system', room, event: 'user_joined', user: 'nt_legacy' });

    await lg.request({ type: 'leave_room', sender: 'nt_legacy', content: '', timestamp: '', room }, sys(joinedText('nt_legacy', 'global')));
    const l1 = await watchV1.waitFor((f) => f.type === 'user_left' && f.user === 'nt_legacy');
    expect(l1).toMatchObject({ room, reason: 'left' });
    const l1legacy = await watchLg.waitFor(sys(leftText('nt_legacy')));
    expect(l1legacy).toMatchObject({ room, event: 'user_left', user: 'nt_legacy' });
    // The leaver is back in global: it no longer hears the room, and global traffic from B reaches it.
    const g = await v1(b, 'nt_global');
    await lg.waitFor(sys(joinedText('nt_global', 'global')));
    await g.request({ type: 'message', text: 'hello global', ref: 'x' }, (f) => f.type === 'ack' && f.ref === 'x');
    expect(await lg.waitFor((f) => f.type === 'chat_message' && f.content === 'hello global')).toMatchObject({ room: 'global', sender: 'nt_global' });
    // A legacy leave from global is refused politely; the client stays in global.
    const again = await lg.request({ type: 'leave_room' }, (f) => f.type === 'system_message');
    expect(again.content).toBe('you are already in global');

    // A v1 user on A joins and leaves.
    const v = await v1(a, 'nt_v1');
    await v1Join(v, room);
    await watchLg.waitFor(sys(joinedText('nt_v1', room)));
    await watchV1.waitFor((f) => f.type === 'user_joined' && f.user === 'nt_v1' && f.room === room);
    const back = await v.request({ type: 'leave', ref: 'lv' }, (f) => f.type === 'joined' && f.ref === 'lv');
    expect(back.room).toBe('global');
    expect(back.users).toContain('nt_v1');
    expect(back.users).not.toContain('nt_watch1');
    await v.waitFor((f) => f.type === 'history' && f.ref === 'lv' && f.room === 'global');
    await watchLg.waitFor(sys(leftText('nt_v1')));
    expect(await watchV1.waitFor((f) => f.type === 'user_left' && f.user === 'nt_v1')).toMatchObject({ room, reason: 'left' });
    await v.request({ type: 'message', text: 'v1 back in global', ref: 'y' }, (f) => f.type === 'ack' && f.ref === 'y' && f.room === 'global');
    await lg.waitFor((f) => f.type === 'chat_message' && f.content === 'v1 back in global');

    // A disconnect is announced too (reason "disconnected" for v1, the same text for legacy).
    await watchLg.close();
    expect(await watchV1.waitFor((f) => f.type === 'user_left' && f.user === 'nt_watch2')).toMatchObject({ room, reason: 'disconnected' });
    const nowLg = await legacy(b, 'nt_watch3');
    await legacyJoin(nowLg, room);
    await watchV1.close();
    expect(await nowLg.waitFor(sys(leftText('nt_watch1')))).toMatchObject({ room, event: 'user_left' });

    // Notices stayed in their rooms: nobody in global heard about the room's joins.
    expect(g.ofType('user_joined').some((f) => f.room === room)).toBe(false);
  });

  it('treats room names case-sensitively: "Dev" and "dev" are separate rooms', async () => {
    const upper = await v1(a, 'cs_upper');
    const lower = await legacy(b, 'cs_lower');
    const lower2 = await v1(a, 'cs_lower2');
    await v1Join(upper, 'Dev');
    await legacyJoin(lower, 'dev');
    await v1Join(lower2, 'dev');
    await lower.waitFor(sys(joinedText('cs_lower2', 'dev')));

    // Messages go out in this order; "to Dev" is published (acked) before either dev message, so a
    // leak into dev would reach the dev members before the dev traffic they wait for.
    await upper.request({ type: 'message', text: 'to Dev', ref: 'u' }, (f) => f.type === 'ack' && f.ref === 'u' && f.room === 'Dev');
    await lower2.request({ type: 'message', text: 'to dev', ref: 'l' }, (f) => f.type === 'ack' && f.ref === 'l' && f.room === 'dev');
    expect(await lower.waitFor((f) => f.type === 'chat_message' && f.content === 'to dev')).toMatchObject({ room: 'dev', sender: 'cs_lower2' });
    lower.send({ type: 'chat_message', content: 'dev from B' });
    expect(await lower2.waitFor((f) => f.type === 'message' && f.text === 'dev from B')).toMatchObject({ room: 'dev' });
    expect(lower.ofType('chat_message').map((f) => f.content)).toEqual(['to dev']);
    expect(lower2.ofType('message').map((f) => f.text)).toEqual(['dev from B']);
    expect(upper.ofType('message')).toHaveLength(0);
    // Joins of dev were not announced in Dev, nor the other way round.
    expect(upper.ofType('user_joined').filter((f) => f.room !== 'global' && f.user !== 'cs_upper')).toEqual([]);
    expect(lower2.ofType('user_joined').filter((f) => f.room === 'Dev')).toEqual([]);
    expect(lower.frames.filter((f) => f.room === 'Dev')).toEqual([]);

    await vi.waitFor(async () => {
      const rooms = (await v1Rooms(lower2)).rooms as { name: string; users: number }[];
      expect(rooms).toContainEqual({ name: 'Dev', users: 1 });
      expect(rooms).toContainEqual({ name: 'dev', users: 2 });
    });
    expect((await v1Users(lower2, 'Dev')).users).toEqual(['cs_upper']);
    expect((await legacyUsers(lower, 'dev')).users).toEqual(['cs_lower', 'cs_lower2']);
  });

  it('lists users (all and per room) and rooms across workers in both dialects, with structured fields', async () => {
    const u1 = await v1(a, 'ls_1');
    const u2 = await legacy(b, 'ls_2');
    const u3 = await v1(b, 'ls_3');
    const u4 = await legacy(a, 'ls_4');
    await v1Join(u1, 'lsroom');
    await legacyJoin(u2, 'lsroom');
    await v1Join(u3, 'other');

    // Clients of earlier tests disconnected; their release may still be settling, so wait for the exact set.
    const all = ['ls_1', 'ls_2', 'ls_3', 'ls_4'];
    await vi.waitFor(async () => {
      const r = await v1Users(u1);
      expect(r).toMatchObject({ type: 'users', room: null });
      expect(r.users).toEqual(all);
    });
    const lAll = await legacyUsers(u2);
    expect(lAll).toMatchObject({ type: 'system_message', sender: 'system', users: all });
    expect(lAll.content).toBe(`Users: ${all.join(', ')}`);
    expect(lAll.code).toBeUndefined();

    const v1Room = await v1Users(u3, 'lsroom');
    expect(v1Room).toMatchObject({ type: 'users', room: 'lsroom', users: ['ls_1', 'ls_2'] });
    const lRoom = await legacyUsers(u4, 'lsroom');
    expect(lRoom).toMatchObject({ users: ['ls_1', 'ls_2'], content: 'Users in lsroom: ls_1, ls_2' });
    expect((await legacyUsers(u4, 'global')).users).toEqual(['ls_4']);
    expect((await v1Users(u1, 'other')).users).toEqual(['ls_3']);

    const expected = [
      { name: 'global', users: 1 },
      { name: 'lsroom', users: 2 },
      { name: 'other', users: 1 },
    ];
    await vi.waitFor(async () => {
      expect((await v1Rooms(u3)).rooms).toEqual(expected);
    });
    const lr = await legacyRooms(u4);
    expect(lr.rooms).toEqual(expected);
    expect(lr.content).toBe('Rooms: global (1), lsroom (2), other (1)');
    expect((await legacyRooms(u2)).rooms).toEqual(expected);
    expect((await v1Rooms(u1)).rooms).toEqual(expected);

    // A joiner is listed at once by a client on the other worker.
    const u5 = await legacy(b, 'ls_5');
    await legacyJoin(u5, 'other');
    expect((await v1Users(u1, 'other')).users).toEqual(['ls_3', 'ls_5']);
    expect((await legacyUsers(u4)).users).toEqual([...all, 'ls_5']);
  });

  it('drops a room from list_rooms once its last member has left, and then calls it unknown', async () => {
    const p = await v1(a, 'em_1');
    const q = await legacy(b, 'em_2');
    const obs = await v1(b, 'em_obs');
    const obsLegacy = await legacy(a, 'em_obs2');
    await v1Join(p, 'ephemeral');
    await legacyJoin(q, 'ephemeral');
    expect((await v1Rooms(obs)).rooms).toContainEqual({ name: 'ephemeral', users: 2 });

    // One leaves with a leave frame (on A) ...
    await p.request({ type: 'leave', ref: 'pl' }, (f) => f.type === 'joined' && f.ref === 'pl');
    expect((await v1Rooms(obs)).rooms).toContainEqual({ name: 'ephemeral', users: 1 });
    expect((await legacyUsers(obsLegacy, 'ephemeral')).users).toEqual(['em_2']);
    // ... the last one by disconnecting (on B).
    await q.close();
    await vi.waitFor(async () => {
      const names = ((await v1Rooms(obs)).rooms as { name: string }[]).map((r) => r.name);
      expect(names).not.toContain('ephemeral');
    });
    expect(((await legacyRooms(obsLegacy)).rooms as { name: string }[]).map((r) => r.name)).not.toContain('ephemeral');
    expect(await v1Users(obs, 'ephemeral')).toMatchObject({ type: 'error', code: 'unknown_room' });

    // A room emptied only by leave frames disappears too.
    await v1Join(p, 'ephemeral2');
    expect((await legacyRooms(obsLegacy)).rooms).toContainEqual({ name: 'ephemeral2', users: 1 });
    await p.request({ type: 'message', text: '/leave', ref: 'pl2' }, (f) => f.type === 'joined' && f.ref === 'pl2');
    const rooms = (await legacyRooms(obsLegacy)).rooms as { name: string }[];
    expect(rooms.map((r) => r.name)).not.toContain('ephemeral2');
  });

  it('answers list_users for an unknown room with an error in both dialects and keeps the connection', async () => {
    const v = await v1(a, 'un_v1');
    const l = await legacy(b, 'un_legacy');

    const err = await v1Users(v, 'nosuchroom');
    expect(err).toMatchObject({ type: 'error', code: 'unknown_room' });
    expect(err.message).toContain('nosuchroom');
    const lerr = await legacyUsers(l, 'nosuchroom');
    expect(lerr).toMatchObject({ type: 'system_message', sender: 'system', code: 'unknown_room', room: 'global' });
    expect(lerr.content).toMatch(/^error: /);
    expect(lerr.users).toBeUndefined();
    // The same through the slash command.
    const cerr = await l.request({ type: 'chat_message', content: '/users nosuchroom' }, legacyReply);
    expect(cerr.code).toBe('unknown_room');

    // Both connections are still up and chatting across workers.
    v.send({ type: 'message', text: 'still here' });
    await l.waitFor((f) => f.type === 'chat_message' && f.content === 'still here');
    l.send({ type: 'chat_message', content: 'me too' });
    await v.waitFor((f) => f.type === 'message' && f.text === 'me too');
    expect(v.closeCode).toBeNull();
    expect(l.closeCode).toBeNull();
  });

  it('runs slash commands typed as chat text in both dialects', async () => {
    const v = await v1(a, 'sl_v1');
    const l = await legacy(b, 'sl_legacy');
    const bystander = await v1(b, 'sl_by');
    await l.waitFor(sys(joinedText('sl_by', 'global')));

    // /users and /users <room>
    const vu = await v.request({ type: 'message', text: '/users', ref: 's1' }, (f) => f.ref === 's1');
    expect(vu).toMatchObject({ type: 'users', room: null });
    expect(vu.users).toEqual(expect.arrayContaining(['sl_v1', 'sl_legacy', 'sl_by']));
    const lu = await l.request({ type: 'chat_message', content: '/users global' }, legacyReply);
    expect(lu.users).toEqual(expect.arrayContaining(['sl_v1', 'sl_legacy', 'sl_by']));
    expect(lu.content).toMatch(/^Users in global: /);

    // /join x
    const vj = await v.request({ type: 'message', text: '/join slashroom', ref: 's2' }, (f) => f.type === 'joined' && f.ref === 's2');
    expect(vj).toMatchObject({ room: 'slashroom', users: ['sl_v1'] });
    await v.waitFor((f) => f.type === 'history' && f.ref === 's2');
    await l.request({ type: 'chat_message', content: '/join slashroom' }, sys(joinedText('sl_legacy', 'slashroom')));
    await v.waitFor((f) => f.type === 'user_joined' && f.user === 'sl_legacy' && f.room === 'slashroom');
    // Joining the room one is already in changes nothing (legacy is told so; v1 gets the room state again).
    const already = await l.request({ type: 'chat_message', content: '/join slashroom' }, (f) => f.type === 'system_message');
    expect(already.content).toBe('you are already in slashroom');
    const again = await v.request({ type: 'message', text: '/join slashroom', ref: 's2b' }, (f) => f.type === 'joined' && f.ref === 's2b');
    expect(again.users).toEqual(['sl_legacy', 'sl_v1']);

    // /rooms
    const vr = await v.request({ type: 'message', text: '/rooms', ref: 's3' }, (f) => f.ref === 's3');
    expect(vr.type).toBe('rooms');
    expect(vr.rooms).toContainEqual({ name: 'slashroom', users: 2 });
    const lr = await l.request({ type: 'chat_message', content: '/rooms' }, legacyReply);
    expect(lr.rooms).toContainEqual({ name: 'slashroom', users: 2 });
    expect(lr.content).toContain('slashroom (2)');

    // Chat in the room still works after the commands; "//" sends a literal slash.
    v.send({ type: 'message', text: '//shrug in slashroom' });
    expect(await l.waitFor((f) => f.type === 'chat_message' && f.sender === 'sl_v1')).toMatchObject({
      content: '/shrug in slashroom',
      room: 'slashroom',
    });

    // /leave
    const vl = await v.request({ type: 'message', text: '/leave', ref: 's4' }, (f) => f.type === 'joined' && f.ref === 's4');
    expect(vl.room).toBe('global');
    await l.waitFor(sys(leftText('sl_v1')));
    await l.request({ type: 'chat_message', content: '/leave' }, sys(joinedText('sl_legacy', 'global')));
    await v.waitFor((f) => f.type === 'user_joined' && f.user === 'sl_legacy' && f.room === 'global');

    // Nobody saw a command as chat.
    for (const c of [v, l, bystander]) {
      for (const f of c.frames) {
        if (f.type === 'message' || f.type === 'chat_message') expect(String(f.text ?? f.content)).not.toMatch(/^\/(users|join|rooms|leave)/);
      }
    }
    expect(bystander.ofType('message')).toHaveLength(0);
  });
});
