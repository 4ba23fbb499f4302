/**
 * Contract of the History seam (src/history/types.ts), run against both implementations:
 * - memory: one MemoryHistory (workers in one process share it);
 * - redis: one RedisHistory per worker, each on its own ioredis client, sharing a key prefix
 *   that is unique to the test (its keys are deleted and the clients quit afterwards).
 */
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { MemoryHistory, messageBytes } from '../../src/history/memory';
import { RedisHistory } from '../../src/history/redis';
import type { History, HistoryOptions } from '../../src/history/types';
import type { ChatMessage, HistoryBatch } from '../../src/protocol';
import { uniquePrefix } from '../support/prefix';

interface Setup {
  /** Worker 1's and worker 2's view of one shared history store. */
  a: History;
  b: History;
  /** The Redis fixture's client and key prefix, for checks of what it stores. */
  redis?: Redis;
  prefix?: string;
  cleanup(): Promise<void>;
}

interface Fixture {
  name: string;
  make(opts: HistoryOptions): Promise<Setup>;
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
    name: 'MemoryHistory',
    async make(opts) {
      const h = new MemoryHistory(opts);
      return { a: h, b: h, cleanup: () => h.close() };
    },
  },
  {
    name: 'RedisHistory',
    async make(opts) {
      const prefix = `${uniquePrefix('history')}:`;
      const ra = new Redis(inject('redisUrl'), { lazyConnect: true });
      const rb = new Redis(inject('redisUrl'), { lazyConnect: true });
      await Promise.all([ra.connect(), rb.connect()]);
      const a = new RedisHistory(ra, { prefix, ...opts });
      const b = new RedisHistory(rb, { prefix, ...opts });
      return {
        a,
        b,
        redis: ra,
        prefix,
        cleanup: async () => {
          await Promise.all([a.close(), b.close()]);
          await deleteKeys(ra, prefix);
          await Promise.all([ra.quit(), rb.quit()]);
        },
      };
    },
  },
];

const WAIT = { timeout: 5000, interval: 25 };
const HOUR = 3_600_000;

let clock = Date.UTC(2024, 0, 1);
function msg(room: string, text: string, from = 'alice'): Omit<ChatMessage, 'id'> {
  return { room, from, text, ts: new Date((clock += 1000)).toISOString() };
}

const ids = (b: HistoryBatch) => b.messages.map((m) => m.id);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe.each(fixtures)('History contract: $name', (fx) => {
  let setup: Setup | null = null;

  afterEach(async () => {
    await setup?.cleanup();
    setup = null;
  });

  async function make(size = 100, idleTtlMs = HOUR, bounds: Pick<HistoryOptions, 'maxBytes' | 'maxRooms'> = {}): Promise<Setup> {
    setup = await fx.make({ size, idleTtlMs, ...bounds });
    return setup;
  }

  /** Appends `n` messages to `room`, one after another, and returns what append returned. */
  async function fill(h: History, room: string, n: number): Promise<ChatMessage[]> {
    const out: ChatMessage[] = [];
    for (let i = 0; i < n; i++) out.push(await h.append(msg(room, `${room} #${i + 1}`)));
    return out;
  }

  describe('append', () => {
    it('numbers messages 1, 2, 3 per room, rooms independently, and returns them whole', async () => {
      const { a, b } = await make();
      const m1 = msg('lobby', 'first');
      await expect(a.append(m1)).resolves.toEqual({ ...m1, id: 1 });
      await expect(b.append(msg('lobby', 'second'))).resolves.toMatchObject({ id: 2, text: 'second' });
      await expect(a.append(msg('side', 'other room'))).resolves.toMatchObject({ id: 1, room: 'side' });
      await expect(b.append(msg('lobby', 'third'))).resolves.toMatchObject({ id: 3 });
      await expect(a.append(msg('side', 'again'))).resolves.toMatchObject({ id: 2 });
      const lobby = await b.recent('lobby', 10);
      expect(lobby.messages.map((m) => [m.id, m.text])).toEqual([
        [1, 'first'],
        [2, 'second'],
        [3, 'third'],
      ]);
      expect(lobby.messages[0]).toEqual({ ...m1, id: 1 });
      expect(lobby.messages.every((m) => m.room === 'lobby')).toBe(true);
    });

    it('gives concurrent appends from two workers distinct consecutive ids', async () => {
      const { a, b } = await make();
      const stored = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).append(msg('lobby', `c${i}`))));
      expect(stored.map((m) => m.id).sort((x, y) => (x as number) - (y as number))).toEqual(range(1, 40));
      // What each append returned is what the room kept under that id.
      const kept = await a.recent('lobby', 100);
      expect(ids(kept)).toEqual(range(1, 40));
      for (const m of kept.messages) expect(m.text).toBe(stored.find((s) => s.id === m.id)?.text);
    });

    it('round-trips unicode, emoji and odd characters exactly', async () => {
      const { a, b } = await make();
      const texts = [
        'héllo wörld — ça va?',
        '你好，世界 / こんにちは / 안녕하세요',
        'مرحبا بالعالم (RTL) שלום',
        '👩‍👩‍👧‍👦🏳️‍🌈 \u{1F600}\u{1F4A9} e\u0301 (combining)',
        '"quotes" \\backslash\\ \'single\' {json: [1]}',
        'line1\nline2\r\n\ttabbed \u0000 nul \u2028 sep',
        '',
        ' leading and trailing spaces ',
      ];
      for (const text of texts) await a.append({ room: 'lobby', from: 'zoë', text, ts: '2024-01-01T00:00:00.000Z' });
      const back = await b.recent('lobby', 100);
      expect(back.messages.map((m) => m.text)).toEqual(texts);
      expect(back.messages.every((m) => m.from === 'zoë')).toBe(true);
      const since = await b.since('lobby', 0, 100);
      expect(since.messages.map((m) => m.text)).toEqual(texts);
    });
  });

  describe('cap and recent', () => {
    it('keeps only the last `size` messages', async () => {
      const { a, b } = await make(5);
      await fill(a, 'lobby', 12);
      await fill(b, 'side', 3);
      await expect(b.recent('lobby', 100)).resolves.toMatchObject({ gap: null, reset: false });
      expect(ids(await b.recent('lobby', 100))).toEqual([8, 9, 10, 11, 12]);
      expect((await b.recent('lobby', 100)).messages.map((m) => m.text)).toEqual(range(8, 12).map((i) => `lobby #${i}`));
      expect(ids(await a.recent('side', 100))).toEqual([1, 2, 3]);
      // Ids keep counting after trimming.
      await expect(b.append(msg('lobby', 'next'))).resolves.toMatchObject({ id: 13 });
      expect(ids(await a.recent('lobby', 100))).toEqual([9, 10, 11, 12, 13]);
    });

    it('returns the last `limit` messages, oldest first', async () => {
      const { a, b } = await make();
      await fill(a, 'lobby', 10);
      expect(ids(await b.recent('lobby', 3))).toEqual([8, 9, 10]);
      expect(ids(await b.recent('lobby', 1))).toEqual([10]);
      expect(ids(await b.recent('lobby', 50))).toEqual(range(1, 10));
      await expect(b.recent('lobby', 0)).resolves.toEqual({ messages: [], gap: null, reset: false });
      await expect(b.recent('unknown', 5)).resolves.toEqual({ messages: [], gap: null, reset: false });
    });
  });

  describe('since', () => {
    it('returns every message after the id, in order, without a gap', async () => {
      const { a, b } = await make();
      const stored = await fill(a, 'lobby', 8);
      await expect(b.since('lobby', 5, 3)).resolves.toEqual({ messages: stored.slice(5), gap: null, reset: false });
      await expect(b.since('lobby', 0, 3)).resolves.toEqual({ messages: stored, gap: null, reset: false });
      // Caught up: nothing new, nothing missing, no reset.
      await expect(b.since('lobby', 8, 3)).resolves.toEqual({ messages: [], gap: null, reset: false });
    });

    it('reports exactly the ids that are gone when the id is older than what is kept', async () => {
      const { a, b } = await make(5);
      await fill(a, 'lobby', 12); // kept: 8..12
      const at3 = await b.since('lobby', 3, 2);
      expect(ids(at3)).toEqual([8, 9, 10, 11, 12]);
      expect(at3).toMatchObject({ gap: { from: 4, to: 7 }, reset: false });
      await expect(b.since('lobby', 0, 2)).resolves.toMatchObject({ gap: { from: 1, to: 7 }, reset: false });
      await expect(b.since('lobby', 6, 2)).resolves.toMatchObject({ gap: { from: 7, to: 7 }, reset: false });
      const at7 = await b.since('lobby', 7, 2);
      expect(ids(at7)).toEqual([8, 9, 10, 11, 12]);
      expect(at7.gap).toBeNull();
      const at10 = await b.since('lobby', 10, 2);
      expect(ids(at10)).toEqual([11, 12]);
      expect(at10.gap).toBeNull();
    });

    it('resets with the recent messages when the id is beyond the last one', async () => {
      const { a, b } = await make(5);
      await fill(a, 'lobby', 12);
      const ahead = await b.since('lobby', 13, 3);
      expect(ahead).toMatchObject({ gap: null, reset: true });
      expect(ids(ahead)).toEqual([10, 11, 12]);
      expect(ahead.messages.map((m) => m.text)).toEqual(['lobby #10', 'lobby #11', 'lobby #12']);
      await expect(b.since('lobby', 1000, 0)).resolves.toEqual({ messages: [], gap: null, reset: true });
      const far = await b.since('lobby', Number.MAX_SAFE_INTEGER, 2);
      expect(far).toMatchObject({ gap: null, reset: true });
      expect(ids(far)).toEqual([11, 12]);
      // A room that never had messages is behind any positive id too.
      await expect(b.since('unknown', 4, 3)).resolves.toEqual({ messages: [], gap: null, reset: true });
    });

    it('returns nothing (no gap, no reset) for an unknown room from 0', async () => {
      const { a } = await make();
      await fill(a, 'lobby', 2);
      await expect(a.since('unknown', 0, 10)).resolves.toEqual({ messages: [], gap: null, reset: false });
    });

    it('returns all kept messages after the id, even more than the recent limit', async () => {
      const { a, b } = await make(50);
      await fill(a, 'lobby', 30);
      const batch = await b.since('lobby', 2, 5);
      expect(ids(batch)).toEqual(range(3, 30));
      expect(batch).toMatchObject({ gap: null, reset: false });
    });
  });

  describe('idle expiry', () => {
    it('forgets a room left idle for idleTtlMs; its ids restart at 1 and old ids read as a reset', async () => {
      const { a, b } = await make(100, 500);
      await fill(a, 'lobby', 3);
      expect(ids(await b.recent('lobby', 10))).toEqual([1, 2, 3]);
      await vi.waitFor(async () => expect((await b.recent('lobby', 10)).messages).toEqual([]), WAIT);
      await expect(b.since('lobby', 3, 10)).resolves.toEqual({ messages: [], gap: null, reset: true });
      await expect(b.since('lobby', 0, 10)).resolves.toEqual({ messages: [], gap: null, reset: false });
      const fresh = await a.append(msg('lobby', 'after expiry'));
      expect(fresh.id).toBe(1);
      const resumed = await b.since('lobby', 3, 10);
      expect(resumed).toMatchObject({ reset: true, gap: null });
      expect(resumed.messages.map((m) => [m.id, m.text])).toEqual([[1, 'after expiry']]);
    });

    it('keeps a room that keeps getting messages while an idle one expires', async () => {
      const { a, b } = await make(100, 600);
      await a.append(msg('busy', 'b1'));
      await a.append(msg('idle', 'i1'));
      let n = 1;
      const timer = setInterval(() => void a.append(msg('busy', `b${++n}`)).catch(() => undefined), 100);
      try {
        await vi.waitFor(async () => expect((await b.recent('idle', 10)).messages).toEqual([]), WAIT);
      } finally {
        clearInterval(timer);
      }
      // The idle room lived its 600 ms; the busy one survived the same time with ids intact.
      const busy = await b.recent('busy', 100);
      expect(busy.messages.length).toBeGreaterThan(1);
      expect(ids(busy)).toEqual(range(1, busy.messages.length));
      expect(busy.messages[0].text).toBe('b1');
    });
  });

  describe('byte bound (maxBytes)', () => {
    // 'alice' (5 bytes) + 24 bytes of time + the text: 79 bytes with 50 ASCII characters.
    const ascii = (room: string, i: number) => ({ ...msg(room, `${String(i).padStart(2, '0')}${'x'.repeat(48)}`) });
    const bytesOf = (b: HistoryBatch) => b.messages.reduce((n, m) => n + messageBytes(m), 0);

    it('drops the oldest messages to keep a room under maxBytes; ids go on; a resume from before them gets the gap', async () => {
      const { a, b } = await make(100, HOUR, { maxBytes: 400 });
      for (let i = 1; i <= 10; i++) await a.append(ascii('lobby', i));
      const kept = await b.recent('lobby', 100);
      expect(ids(kept)).toEqual([6, 7, 8, 9, 10]); // 5 × 79 = 395 bytes fit, 6 would not
      expect(bytesOf(kept)).toBeLessThanOrEqual(400);
      await expect(b.since('lobby', 2, 3)).resolves.toMatchObject({ gap: { from: 3, to: 5 }, reset: false });
      expect(ids(await b.since('lobby', 2, 3))).toEqual([6, 7, 8, 9, 10]);
      // Other rooms are bounded on their own.
      await a.append(ascii('side', 1));
      expect(ids(await b.recent('side', 10))).toEqual([1]);
      await expect(a.append(ascii('lobby', 11))).resolves.toMatchObject({ id: 11 });
      expect(ids(await b.recent('lobby', 100))).toEqual([7, 8, 9, 10, 11]);
    });

    it('counts bytes, not characters', async () => {
      const { a, b } = await make(100, HOUR, { maxBytes: 400 });
      // 20 × "€" is 60 bytes of UTF-8: 89 bytes a message, so 4 fit where 5 ASCII ones of 50 would.
      for (let i = 0; i < 8; i++) await a.append(msg('euro', '€'.repeat(20)));
      const kept = await b.recent('euro', 100);
      expect(ids(kept)).toEqual([5, 6, 7, 8]);
      expect(bytesOf(kept)).toBe(4 * 89);
    });

    it('keeps the newest message even when it alone is larger than maxBytes', async () => {
      const { a, b } = await make(100, HOUR, { maxBytes: 50 });
      await a.append(msg('lobby', 'y'.repeat(100)));
      expect(ids(await b.recent('lobby', 10))).toEqual([1]);
      await a.append(msg('lobby', 'short'));
      expect(ids(await b.recent('lobby', 10))).toEqual([2]);
    });

    it('applies the message count and the byte bound together, whichever is tighter', async () => {
      const { a, b } = await make(3, HOUR, { maxBytes: 10_000 });
      for (let i = 1; i <= 6; i++) await a.append(ascii('lobby', i));
      expect(ids(await b.recent('lobby', 100))).toEqual([4, 5, 6]);
    });
  });

  describe('rooms bound (maxRooms)', () => {
    it('drops the history of the least recently written room beyond maxRooms, never the one written', async () => {
      const { a, b } = await make(100, HOUR, { maxRooms: 3 });
      await fill(a, 'r1', 2);
      await fill(b, 'r2', 2);
      await fill(a, 'r3', 2);
      await fill(b, 'r1', 1); // r1 is now the most recently written: r2 goes next
      await fill(a, 'r4', 1);
      expect((await b.recent('r2', 10)).messages).toEqual([]);
      expect(ids(await b.recent('r1', 10))).toEqual([1, 2, 3]);
      expect(ids(await b.recent('r3', 10))).toEqual([1, 2]);
      expect(ids(await b.recent('r4', 10))).toEqual([1]);
      // A resume in the dropped room, before its next message: its history was reset.
      await expect(a.since('r2', 2, 10)).resolves.toEqual({ messages: [], gap: null, reset: true });
    });

    it('numbers a dropped room\'s next message above every id it gave out, so no client sees an id twice', async () => {
      const { a, b } = await make(100, HOUR, { maxRooms: 2 });
      await fill(a, 'r1', 5);
      await fill(a, 'r2', 1);
      await fill(a, 'r3', 1); // drops r1 (ids 1-5)
      expect((await b.recent('r1', 10)).messages).toEqual([]);
      const next = await b.append(msg('r1', 'back')); // drops r2
      expect(next.id).toBeGreaterThan(5);
      // A client that had everything up to 5 resumes: nothing twice, nothing reused.
      const resumed = await a.since('r1', 5, 10);
      expect(resumed.reset).toBe(false);
      expect(resumed.messages.map((m) => [m.id, m.text])).toEqual([[next.id, 'back']]);
      expect(resumed.gap === null || resumed.gap.from === 6).toBe(true);
      // So is every room created after a drop.
      expect((await a.append(msg('fresh', 'new room'))).id).toBeGreaterThan(5);
    });

    it('does not count rooms whose history expired', async () => {
      const { a, b } = await make(100, 1000, { maxRooms: 2 });
      await fill(a, 'old1', 1);
      await fill(a, 'old2', 1);
      await vi.waitFor(async () => expect((await b.recent('old2', 10)).messages).toEqual([]), WAIT);
      await fill(a, 'new1', 2);
      await fill(b, 'new2', 2);
      expect(ids(await a.recent('new1', 10))).toEqual([1, 2]);
      expect(ids(await a.recent('new2', 10))).toEqual([1, 2]);
    });
  });
});

describe('RedisHistory keys', () => {
  it('counts a stream written before byte counts existed, and leaves no keys of dropped rooms behind', async () => {
    const redis = new Redis(inject('redisUrl'));
    const prefix = `${uniquePrefix('historykeys')}:`;
    try {
      const h = new RedisHistory(redis, { prefix, size: 100, idleTtlMs: HOUR, maxBytes: 200, maxRooms: 1 });
      // As the earlier version wrote it: a stream and no byte count.
      for (let i = 1; i <= 4; i++) await redis.xadd(`${prefix}history:legacy`, `0-${i}`, 'f', 'alice', 't', 'z'.repeat(40), 'ts', '2024-01-01T00:00:00.000Z');
      const m = await h.append({ room: 'legacy', from: 'alice', text: 'z'.repeat(40), ts: '2024-01-01T00:00:01.000Z' });
      expect(m.id).toBe(5);
      // 69 bytes each: two fit under 200, the counted old entries included.
      expect(ids(await h.recent('legacy', 10))).toEqual([4, 5]);
      expect(Number(await redis.get(`${prefix}history-bytes:legacy`))).toBe(2 * 69);
      await h.append({ room: 'other', from: 'bob', text: 'hi', ts: '2024-01-01T00:00:02.000Z' });
      expect(await redis.exists(`${prefix}history:legacy`, `${prefix}history-bytes:legacy`)).toBe(0);
      expect(await redis.zrange(`${prefix}history-rooms`, 0, -1)).toEqual(['other']);
      expect(Number(await redis.get(`${prefix}history-floor`))).toBe(5);
      expect(await redis.pttl(`${prefix}history-bytes:other`)).toBeGreaterThan(0);
    } finally {
      await deleteKeys(redis, prefix);
      await redis.quit();
    }
  });
});
