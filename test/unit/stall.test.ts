import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Client } from '../../src/connection';
import { MemoryPresence } from '../../src/presence/memory';
import type { Owner } from '../../src/presence/types';
import { StallGuard } from '../../src/stall';

/**
 * The check a worker makes on waking from a freeze longer than the presence TTL, against the
 * in-memory presence and a clock the test moves: names held elsewhere now are given up, the
 * rest are announced back, and nothing runs for anyone before the check is done.
 */
const TTL = 2000;
let now = 1_000_000;

afterEach(() => vi.restoreAllMocks());

function setUp(presence = new MemoryPresence({ ttlMs: TTL, now: () => now })) {
  vi.spyOn(Date, 'now').mockImplementation(() => now);
  const clients = ['alice', 'bob', 'carol'].map((user, i) => ({ user, room: 'r', closed: false, connId: `c${i}` }) as unknown as Client);
  const ownerOf = (c: Client): Owner => ({ worker: 'A', conn: c.connId, session: '' });
  const givenUp: string[] = [];
  const rejoined: string[] = [];
  let heartbeats = 0;
  const guard = new StallGuard({
    ttlMs: TTL,
    presence,
    log: pino({ level: 'silent' }),
    clients: () => clients,
    ownerOf,
    giveUp: (c) => givenUp.push(c.user),
    rejoined: (room, user) => rejoined.push(`${room}/${user}`),
    heartbeat: async () => void heartbeats++,
  });
  return { guard, presence, clients, ownerOf, givenUp, rejoined, heartbeats: () => heartbeats };
}

describe('StallGuard', () => {
  it('lets requests run at once while the heartbeat timer keeps running', () => {
    const { guard } = setUp();
    now += TTL / 2;
    expect(guard.tick()).toBeNull();
    now += TTL;
    expect(guard.gate()).toBeNull();
  });

  it('after a freeze, gives up the names held elsewhere and announces the others back', async () => {
    const { guard, presence, clients, ownerOf, givenUp, rejoined, heartbeats } = setUp();
    for (const c of clients) {
      await presence.claim(c.user, ownerOf(c));
      await presence.join(c.user, 'r');
    }
    now += 4 * TTL; // frozen: every entry expired meanwhile
    await presence.reap(); // another worker's reaper announced them gone
    await presence.claim('alice', { worker: 'B', conn: 'x', session: '' }); // someone else took alice
    const check = guard.gate();
    expect(check).not.toBeNull();
    expect(guard.gate()).toBe(check); // every request waits for the same check
    await check;
    expect(givenUp).toEqual(['alice']);
    expect(guard.mayAct(clients[0])).toBe(false);
    expect(guard.mayAct(clients[1])).toBe(true);
    expect(rejoined.sort()).toEqual(['r/bob', 'r/carol']);
    expect(heartbeats()).toBe(1);
    expect(guard.gate()).toBeNull();
  });

  it('goes on without a check when presence is unavailable (nobody can claim meanwhile)', async () => {
    const presence = new MemoryPresence({ ttlMs: TTL, now: () => now });
    vi.spyOn(presence, 'locate').mockRejectedValue(new Error('Redis down'));
    const { guard, givenUp, heartbeats } = setUp(presence);
    now += 4 * TTL;
    await guard.gate();
    expect(givenUp).toEqual([]);
    expect(heartbeats()).toBe(0);
  });
});
