/**
 * Contract of the Presence seam (src/presence/types.ts), run against both implementations:
 * - memory: one MemoryPresence; two workers in one process share that one instance;
 * - redis: one RedisPresence per worker, each on its own ioredis client, sharing a key prefix
 *   that is unique to the test (its keys are deleted and the clients quit afterwards).
 *
 * A short TTL keeps expiry tests quick; passing time is always awaited with vi.waitFor on an
 * observable condition, never a fixed sleep.
 */
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { MemoryPresence } from '../../src/presence/memory';
import { RedisPresence } from '../../src/presence/redis';
import type { Owner, Presence, PresenceEntry } from '../../src/presence/types';
import { uniquePrefix } from '../support/prefix';

const TTL = 800;
const WAIT = { timeout: 5000, interval: 25 };

interface Setup {
  /** Worker 1's and worker 2's view of one shared presence store. */
  a: Presence;
  b: Presence;
  /** The store loses everything (a Redis restart without persistence). */
  wipe(): Promise<void>;
  cleanup(): Promise<void>;
}

interface Fixture {
  name: string;
  make(ttlMs: number): Promise<Setup>;
}

async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
}

const fixtures: Fixture[] = [
  {
    name: 'MemoryPresence',
    async make(ttlMs) {
      const p = new MemoryPresence({ ttlMs });
      return {
        a: p,
        b: p,
        wipe: async () => {
          // The in-process store has no server to restart; empty its maps instead.
          const state = p as unknown as Record<'claims' | 'online' | 'members', Map<unknown, unknown>>;
          state.claims.clear();
          state.online.clear();
          state.roomMembers.clear();
        },
        cleanup: () => p.close(),
      };
    },
  },
  {
    name: 'RedisPresence',
    async make(ttlMs) {
      const prefix = `${uniquePrefix('presence')}:`;
      const ra = new Redis(inject('redisUrl'), { lazyConnect: true });
      const rb = new Redis(inject('redisUrl'), { lazyConnect: true });
      await Promise.all([ra.connect(), rb.connect()]);
      const a = new RedisPresence(ra, { prefix, ttlMs });
      const b = new RedisPresence(rb, { prefix, ttlMs });
      return {
        a,
        b,
        wipe: () => deleteKeys(ra, prefix),
        cleanup: async () => {
          await Promise.all([a.close(), b.close()]);
          await deleteKeys(ra, prefix);
          await Promise.all([ra.quit(), rb.quit()]);
        },
      };
    },
  },
];

const owner = (worker: string, conn: string, session = ''): Owner => ({ worker, conn, session });

describe.each(fixtures)('Presence contract: $name', (fx) => {
  let setup: Setup | null = null;
  const timers: NodeJS.Timeout[] = [];

  afterEach(async () => {
    timers.splice(0).forEach(clearInterval);
    await setup?.cleanup();
    setup = null;
  });

  async function make(ttlMs = TTL): Promise<Setup> {
    setup = await fx.make(ttlMs);
    return setup;
  }

  /** Heartbeats `entries` from `p` every quarter TTL until the test ends. */
  function keepAlive(p: Presence, entries: PresenceEntry[], ttlMs = TTL): { lost: string[][] } {
    const out = { lost: [] as string[][] };
    const beat = () => void p.heartbeat(entries).then((l) => out.lost.push(l), () => undefined);
    beat();
    timers.push(setInterval(beat, ttlMs / 4));
    return out;
  }

  describe('claim', () => {
    it('is exclusive: a second owner is refused and told who holds the name', async () => {
      const { a, b } = await make();
      const alice1 = owner('w1', 'c1', 'sess-1');
      const alice2 = owner('w2', 'c2', 'sess-2');
      await expect(a.claim('alice', alice1)).resolves.toEqual({ ok: true, replaced: null });
      await expect(b.claim('alice', alice2)).resolves.toEqual({ ok: false, holder: alice1 });
      await expect(a.claim('alice', owner('w1', 'c3'))).resolves.toEqual({ ok: false, holder: alice1 });
      // Other names are independent.
      await expect(b.claim('bob', alice2)).resolves.toEqual({ ok: true, replaced: null });
      await expect(a.users()).resolves.toEqual(['alice', 'bob']);
    });

    it('lets exactly one of 50 concurrent claims of one name win, across two workers', async () => {
      const { a, b } = await make();
      const owners = Array.from({ length: 50 }, (_, i) => owner(`w${i % 2}`, `c${i}`, i % 3 === 0 ? '' : `s${i}`));
      const results = await Promise.all(owners.map((o, i) => (i % 2 ? b : a).claim('carol', o)));
      const winners = results.flatMap((r, i) => (r.ok ? [owners[i]] : []));
      expect(winners).toHaveLength(1);
      expect(results.filter((r) => r.ok)).toEqual([{ ok: true, replaced: null }]);
      for (const r of results) if (!r.ok) expect(r.holder).toEqual(winners[0]);
      await expect(a.users()).resolves.toEqual(['carol']);
    });

    it('lets a claim under the same non-empty session take over, returning the replaced owner', async () => {
      const { a, b } = await make();
      const old = owner('w1', 'c1', 'tok');
      const neu = owner('w2', 'c7', 'tok');
      await a.claim('alice', old);
      await expect(b.claim('alice', neu)).resolves.toEqual({ ok: true, replaced: old });
      // The new owner now holds it: a different session is refused with the new holder...
      await expect(a.claim('alice', owner('w1', 'c2', 'other'))).resolves.toEqual({ ok: false, holder: neu });
      // ...and the old owner's release no longer frees the name.
      await a.release('alice', old);
      await expect(a.users()).resolves.toEqual(['alice']);
      await expect(a.claim('alice', owner('w1', 'c3', 'other'))).resolves.toEqual({ ok: false, holder: neu });
      // A third connection of the same session takes over again.
      const third = owner('w1', 'c9', 'tok');
      await expect(a.claim('alice', third)).resolves.toEqual({ ok: true, replaced: neu });
    });

    it('never lets an empty session take over', async () => {
      const { a, b } = await make();
      const anon = owner('w1', 'c1', '');
      await a.claim('alice', anon);
      await expect(b.claim('alice', owner('w2', 'c2', ''))).resolves.toEqual({ ok: false, holder: anon });
      // Not even the very same owner claiming again.
      await expect(a.claim('alice', anon)).resolves.toEqual({ ok: false, holder: anon });
      const withSession = owner('w1', 'c3', 'tok');
      await a.claim('bob', withSession);
      await expect(b.claim('bob', owner('w2', 'c4', ''))).resolves.toEqual({ ok: false, holder: withSession });
    });

    it('frees the name once the claim expires without a heartbeat', async () => {
      const { a, b } = await make();
      const first = owner('w1', 'c1', 's1');
      await a.claim('alice', first);
      await expect(b.claim('alice', owner('w2', 'c2', 's2'))).resolves.toMatchObject({ ok: false });
      const second = owner('w2', 'c3', 's3');
      await vi.waitFor(async () => expect(await b.claim('alice', second)).toEqual({ ok: true, replaced: null }), WAIT);
      await expect(a.claim('alice', first)).resolves.toEqual({ ok: false, holder: second });
    });
  });

  describe('release', () => {
    it('is a no-op for anyone but the owner', async () => {
      const { a, b } = await make();
      const holder = owner('w1', 'c1', 'tok');
      await a.claim('alice', holder);
      await a.join('alice', 'lobby');
      await b.release('alice', owner('w2', 'c2', 'tok'));
      await b.release('alice', owner('w1', 'c1', 'other'));
      await b.release('alice', owner('w1', 'c2', 'tok'));
      await expect(a.users()).resolves.toEqual(['alice']);
      await expect(a.users('lobby')).resolves.toEqual(['alice']);
      await expect(b.claim('alice', owner('w2', 'c3', 'x'))).resolves.toEqual({ ok: false, holder });
    });

    it('by the owner frees the name and removes the online entry and every membership', async () => {
      const { a, b } = await make();
      const alice = owner('w1', 'c1', 'tok');
      await a.claim('alice', alice);
      await b.claim('bob', owner('w2', 'c2'));
      await a.join('alice', 'lobby');
      await a.join('alice', 'solo');
      await b.join('bob', 'lobby');
      await a.release('alice', alice);
      await expect(b.users()).resolves.toEqual(['bob']);
      await expect(b.users('lobby')).resolves.toEqual(['bob']);
      await expect(b.users('solo')).resolves.toEqual([]);
      await expect(b.rooms()).resolves.toEqual([{ name: 'lobby', users: 1 }]);
      // The name is free for anyone, and was not "replaced".
      await expect(b.claim('alice', owner('w2', 'c3'))).resolves.toEqual({ ok: true, replaced: null });
      // Released memberships are gone, not expired: the reaper never reports them.
      await vi.waitFor(async () => expect(await b.users('lobby')).toEqual([]), WAIT);
      const reaped = [...(await a.reap()), ...(await b.reap())];
      expect(reaped).toEqual([{ room: 'lobby', user: 'bob' }]);
    });

    it("by the owner removes memberships even after the owner's claim lapsed unclaimed", async () => {
      // A late heartbeat let alice's claim lapse while her worker still serves her; she then
      // moves rooms (join) and disconnects (release). Nobody else holds the name, so her
      // membership must go now: left behind, the reaper would announce her leaving a second time.
      const { a, b } = await make();
      const alice = owner('w1', 'c1', 'tok');
      await a.claim('alice', alice);
      await vi.waitFor(async () => expect(await b.users()).toEqual([]), WAIT);
      await a.join('alice', 'lobby');
      await expect(b.users('lobby')).resolves.toEqual(['alice']);
      await a.release('alice', alice);
      await expect(b.users('lobby')).resolves.toEqual([]);
      await expect(b.rooms()).resolves.toEqual([]);
      await expect(b.reap()).resolves.toEqual([]);
    });

    it('compares owners by value, not by object identity or key order', async () => {
      const { a } = await make();
      await a.claim('alice', { worker: 'w1', conn: 'c1', session: 'tok' });
      await a.join('alice', 'lobby');
      const sameOwnerOtherKeyOrder = JSON.parse('{"session":"tok","conn":"c1","worker":"w1"}') as Owner;
      await a.release('alice', sameOwnerOtherKeyOrder);
      await expect(a.users()).resolves.toEqual([]);
      await expect(a.users('lobby')).resolves.toEqual([]);
    });
  });

  describe('rooms and users', () => {
    it('tracks join and leave, lists users sorted and rooms sorted with counts, on every worker', async () => {
      const { a, b } = await make();
      for (const [u, p] of [['dave', a], ['Bob', b], ['alice', a], ['carol', b]] as const) await p.claim(u, owner('w', u));
      await a.join('dave', 'lobby');
      await b.join('Bob', 'lobby');
      await a.join('alice', 'lobby');
      await b.join('carol', 'zeta');
      await a.join('alice', 'Alpha');
      await a.join('alice', 'lobby'); // joining twice counts once

      for (const p of [a, b]) {
        await expect(p.users()).resolves.toEqual(['Bob', 'alice', 'carol', 'dave']);
        await expect(p.users('lobby')).resolves.toEqual(['Bob', 'alice', 'dave']);
        await expect(p.users('zeta')).resolves.toEqual(['carol']);
        await expect(p.users('nowhere')).resolves.toEqual([]);
        await expect(p.rooms()).resolves.toEqual([
          { name: 'Alpha', users: 1 },
          { name: 'lobby', users: 3 },
          { name: 'zeta', users: 1 },
        ]);
      }

      await b.leave('dave', 'lobby');
      await a.leave('carol', 'zeta');
      await a.leave('carol', 'zeta'); // leaving twice is harmless
      await b.leave('nobody', 'lobby');
      await expect(a.users('lobby')).resolves.toEqual(['Bob', 'alice']);
      await expect(b.users('zeta')).resolves.toEqual([]);
      await expect(b.rooms()).resolves.toEqual([
        { name: 'Alpha', users: 1 },
        { name: 'lobby', users: 2 },
      ]);
      // Leaving a room does not take anyone offline.
      await expect(a.users()).resolves.toEqual(['Bob', 'alice', 'carol', 'dave']);
    });

    it('says whether a join added a live member and how big the room is, on either worker', async () => {
      const { a, b } = await make();
      await expect(a.join('alice', 'lobby')).resolves.toEqual({ added: true, members: 1 });
      await expect(b.join('bob', 'lobby')).resolves.toEqual({ added: true, members: 2 });
      // A reconnect that finds its membership still live is not a new member (no join notice).
      await expect(b.join('alice', 'lobby')).resolves.toEqual({ added: false, members: 2 });
      await expect(a.leave('bob', 'lobby')).resolves.toEqual({ removed: true, members: 1 });
      await expect(a.leave('bob', 'lobby')).resolves.toEqual({ removed: false, members: 1 });
      await expect(b.leave('alice', 'lobby')).resolves.toEqual({ removed: true, members: 0 });
    });

    it('counts a membership that expired unreaped as new when it is joined again', async () => {
      const { a } = await make(150);
      await a.join('alice', 'lobby');
      await new Promise((r) => setTimeout(r, 250));
      await expect(a.join('alice', 'lobby')).resolves.toEqual({ added: true, members: 1 });
    });

    it('lists at most `limit` members, sorted, with the full count', async () => {
      const { a, b } = await make();
      for (const u of ['eve', 'bob', 'dave', 'alice', 'carol']) await (u < 'c' ? a : b).join(u, 'big');
      for (const p of [a, b]) {
        await expect(p.members('big', 10)).resolves.toEqual({ users: ['alice', 'bob', 'carol', 'dave', 'eve'], count: 5 });
        const part = await p.members('big', 2);
        expect(part.count).toBe(5);
        expect(part.users).toHaveLength(2);
        expect(part.users).toEqual([...part.users].sort());
        await expect(p.members('empty', 10)).resolves.toEqual({ users: [], count: 0 });
      }
    });

    it('locates the owner of a claim from any worker, and nobody once it is released or expired', async () => {
      const { a, b } = await make(200);
      const o = owner('w1', 'c1', 'sess');
      await a.claim('alice', o);
      await expect(b.locate('alice')).resolves.toEqual(o);
      await expect(a.locate('nobody')).resolves.toBeNull();
      await a.release('alice', o);
      await expect(b.locate('alice')).resolves.toBeNull();
      await b.claim('bob', owner('w2', 'c2'));
      await new Promise((r) => setTimeout(r, 300));
      await expect(a.locate('bob')).resolves.toBeNull();
    });

    it('starts empty', async () => {
      const { a } = await make();
      await expect(a.users()).resolves.toEqual([]);
      await expect(a.rooms()).resolves.toEqual([]);
      await expect(a.reap()).resolves.toEqual([]);
      await expect(a.heartbeat([])).resolves.toEqual([]);
    });
  });

  describe('expiry and heartbeat', () => {
    it('drops entries that are not refreshed after the TTL', async () => {
      const { a, b } = await make();
      await a.claim('alice', owner('w1', 'c1'));
      await a.join('alice', 'lobby');
      await expect(b.users()).resolves.toEqual(['alice']);
      await expect(b.rooms()).resolves.toEqual([{ name: 'lobby', users: 1 }]);
      await vi.waitFor(async () => {
        expect(await b.users()).toEqual([]);
        expect(await b.users('lobby')).toEqual([]);
        expect(await b.rooms()).toEqual([]);
      }, WAIT);
    });

    it('keeps heartbeated entries alive while others expire', async () => {
      const { a, b } = await make();
      const alice = owner('w1', 'c1', 'tok');
      await a.claim('alice', alice);
      await a.join('alice', 'lobby');
      await b.claim('bob', owner('w2', 'c2'));
      await b.join('bob', 'lobby');
      await b.join('bob', 'side');
      const beats = keepAlive(a, [{ user: 'alice', room: 'lobby', owner: alice }]);

      // Wait for bob (no heartbeat) to expire: by then alice's original TTL has passed too.
      await vi.waitFor(async () => {
        expect(await b.users()).toEqual(['alice']);
        expect(await b.rooms()).toEqual([{ name: 'lobby', users: 1 }]);
      }, WAIT);
      await expect(b.users('lobby')).resolves.toEqual(['alice']);
      await expect(b.claim('alice', owner('w2', 'c3', 'other'))).resolves.toEqual({ ok: false, holder: alice });
      const reaped = [...(await b.reap()), ...(await a.reap())];
      expect(reaped).toEqual(expect.arrayContaining([{ room: 'lobby', user: 'bob' }, { room: 'side', user: 'bob' }]));
      expect(reaped).toHaveLength(2);
      expect(beats.lost.every((l) => l.length === 0)).toBe(true);
    });

    it('re-creates entries that expired and were reaped', async () => {
      const { a } = await make();
      const alice = owner('w1', 'c1', 'tok');
      await a.claim('alice', alice);
      await a.join('alice', 'lobby');
      await vi.waitFor(async () => {
        expect(await a.users()).toEqual([]);
        expect(await a.users('lobby')).toEqual([]);
      }, WAIT);
      await expect(a.reap()).resolves.toEqual([{ room: 'lobby', user: 'alice' }]);
      await expect(a.heartbeat([{ user: 'alice', room: 'lobby', owner: alice }])).resolves.toEqual([]);
      await expect(a.users()).resolves.toEqual(['alice']);
      await expect(a.users('lobby')).resolves.toEqual(['alice']);
      await expect(a.rooms()).resolves.toEqual([{ name: 'lobby', users: 1 }]);
      await expect(a.claim('alice', owner('w2', 'c2', 'other'))).resolves.toEqual({ ok: false, holder: alice });
    });

    it('re-creates entries that vanished from the store (restart) on the next heartbeat', async () => {
      const { a, b, wipe } = await make();
      const alice = owner('w1', 'c1', 'tok');
      const bob = owner('w1', 'c2');
      await a.claim('alice', alice);
      await a.claim('bob', bob);
      await a.join('alice', 'lobby');
      await a.join('bob', 'side');
      await wipe();
      await expect(b.users()).resolves.toEqual([]);
      await expect(b.rooms()).resolves.toEqual([]);
      const entries = [
        { user: 'alice', room: 'lobby', owner: alice },
        { user: 'bob', room: 'side', owner: bob },
      ];
      await expect(a.heartbeat(entries)).resolves.toEqual([]);
      await expect(b.users()).resolves.toEqual(['alice', 'bob']);
      await expect(b.users('lobby')).resolves.toEqual(['alice']);
      await expect(b.rooms()).resolves.toEqual([
        { name: 'lobby', users: 1 },
        { name: 'side', users: 1 },
      ]);
      // The claims are back too, with their owners.
      await expect(b.claim('alice', owner('w2', 'c3', 'x'))).resolves.toEqual({ ok: false, holder: alice });
      await expect(b.claim('bob', owner('w2', 'c4', ''))).resolves.toEqual({ ok: false, holder: bob });
      // And they expire like any entry once the heartbeats stop; reap reports them once.
      await vi.waitFor(async () => {
        expect(await b.users()).toEqual([]);
        expect(await b.rooms()).toEqual([]);
      }, WAIT);
      const reaped = [...(await a.reap()), ...(await b.reap())];
      expect(reaped).toEqual(expect.arrayContaining([{ room: 'lobby', user: 'alice' }, { room: 'side', user: 'bob' }]));
      expect(reaped).toHaveLength(2);
    });

    it('reports users whose claim another owner holds, and does not refresh them', async () => {
      const { a, b } = await make();
      const old = owner('w1', 'c1', 'tok');
      const neu = owner('w2', 'c2', 'tok');
      const carol = owner('w1', 'c3');
      await a.claim('alice', old);
      await a.claim('carol', carol);
      await b.claim('alice', neu); // same session: takeover
      await b.claim('dave', owner('w2', 'c4'));
      const lost = await a.heartbeat([
        { user: 'alice', room: 'lobby', owner: old },
        { user: 'carol', room: 'lobby', owner: carol },
        { user: 'dave', room: 'lobby', owner: owner('w1', 'c5') },
      ]);
      expect([...lost].sort()).toEqual(['alice', 'dave']);
      // The lost entries did not join the room nor take the claim back; carol's did.
      await expect(b.users('lobby')).resolves.toEqual(['carol']);
      await expect(b.claim('alice', owner('w9', 'c9', 'x'))).resolves.toEqual({ ok: false, holder: neu });
    });

    it('recognises its own claim by value, not by object identity or key order', async () => {
      const { a } = await make();
      await a.claim('alice', { worker: 'w1', conn: 'c1', session: 'tok' });
      const sameOwnerOtherKeyOrder = JSON.parse('{"session":"tok","conn":"c1","worker":"w1"}') as Owner;
      await expect(a.heartbeat([{ user: 'alice', room: 'lobby', owner: sameOwnerOtherKeyOrder }])).resolves.toEqual([]);
      await expect(a.users('lobby')).resolves.toEqual(['alice']);
    });

    it("reports a user whose expired claim was taken by someone else meanwhile", async () => {
      const { a, b } = await make();
      const first = owner('w1', 'c1', 's1');
      await a.claim('alice', first);
      const second = owner('w2', 'c2', 's2');
      await vi.waitFor(async () => expect((await b.claim('alice', second)).ok).toBe(true), WAIT);
      await expect(a.heartbeat([{ user: 'alice', room: 'lobby', owner: first }])).resolves.toEqual(['alice']);
      await expect(a.users('lobby')).resolves.toEqual([]);
    });
  });

  describe('reap', () => {
    it('returns each expired membership exactly once when two workers reap concurrently, and never a live one', async () => {
      const { a, b } = await make();
      const expired: { room: string; user: string }[] = [];
      for (let i = 0; i < 30; i++) {
        const user = `u${i}`;
        const room = `r${i % 4}`;
        await (i % 2 ? a : b).claim(user, owner('w', user));
        await (i % 2 ? a : b).join(user, room);
        expired.push({ room, user });
        if (i % 5 === 0) {
          await a.join(user, 'extra');
          expired.push({ room: 'extra', user });
        }
      }
      const live = owner('w1', 'live', 'tok');
      await a.claim('live', live);
      const beats = keepAlive(a, [{ user: 'live', room: 'r0', owner: live }]);
      await vi.waitFor(async () => {
        expect(await b.users()).toEqual(['live']);
        expect(await b.rooms()).toEqual([{ name: 'r0', users: 1 }]);
      }, WAIT);
      await expect(b.users('r0')).resolves.toEqual(['live']);
      // Joined just now: live, in a room that also has expired members.
      await b.join('late', 'r1');

      const results = await Promise.all([a.reap(), b.reap(), a.reap(), b.reap()]);
      const all = results.flat();
      const key = (m: { room: string; user: string }) => `${m.room} ${m.user}`;
      expect(all.map(key).sort()).toEqual(expired.map(key).sort());
      expect(new Set(all.map(key)).size).toBe(all.length);
      await expect(Promise.all([a.reap(), b.reap()])).resolves.toEqual([[], []]);
      // The live ones are untouched.
      await expect(a.users('r0')).resolves.toEqual(['live']);
      await expect(a.users('r1')).resolves.toEqual(['late']);
      await expect(a.rooms()).resolves.toEqual([
        { name: 'r0', users: 1 },
        { name: 'r1', users: 1 },
      ]);
      expect(beats.lost.every((l) => l.length === 0)).toBe(true);
    });

    it('does not report members who left or were released before expiring', async () => {
      const { a } = await make();
      const alice = owner('w1', 'c1');
      await a.claim('alice', alice);
      await a.join('alice', 'lobby');
      await a.join('bob', 'lobby');
      await a.join('carol', 'lobby');
      await a.leave('bob', 'lobby');
      await a.release('alice', alice);
      await vi.waitFor(async () => expect(await a.users('lobby')).toEqual([]), WAIT);
      await expect(a.reap()).resolves.toEqual([{ room: 'lobby', user: 'carol' }]);
    });

    it('reports a membership again if it was re-joined and expired again', async () => {
      const { a } = await make();
      await a.join('alice', 'lobby');
      await vi.waitFor(async () => expect(await a.users('lobby')).toEqual([]), WAIT);
      await expect(a.reap()).resolves.toEqual([{ room: 'lobby', user: 'alice' }]);
      await a.join('alice', 'lobby');
      await expect(a.reap()).resolves.toEqual([]);
      await vi.waitFor(async () => expect(await a.users('lobby')).toEqual([]), WAIT);
      await expect(a.reap()).resolves.toEqual([{ room: 'lobby', user: 'alice' }]);
    });
  });
});
