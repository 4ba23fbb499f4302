/**
 * Presence notices (src/notices.ts) and their frames (src/room-frames.ts): batching per room,
 * changes that cancel out, large-room summaries in both dialects.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { PresenceEvent } from '../../src/broker/types';
import { PresenceNotices } from '../../src/notices';
import { nameList } from '../../src/protocol';
import { roomFrames } from '../../src/room-frames';

describe('PresenceNotices', () => {
  let sent: PresenceEvent[];
  let notices: PresenceNotices;
  const make = (intervalMs = 200, summaryAbove = 50, summaryMs = 5000) =>
    new PresenceNotices(async (e) => void sent.push(e), { intervalMs, summaryAbove, summaryMs });

  beforeEach(() => {
    vi.useFakeTimers();
    sent = [];
    notices = make();
  });
  afterEach(() => vi.useRealTimers());

  const names = (e: PresenceEvent) => ({ joined: e.joined, left: e.left.map((l) => `${l.user}:${l.reason}`) });

  it('sends the first change of a quiet room at once and gathers the rest of the burst into one event', async () => {
    notices.joined('dev', 'alice', 1);
    expect(sent.map(names)).toEqual([{ joined: ['alice'], left: [] }]);
    for (const u of ['bob', 'carol', 'dave']) notices.joined('dev', u, 4);
    notices.left('dev', 'erin', 'disconnected', 3);
    expect(sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(200);
    expect(sent.map(names)).toEqual([
      { joined: ['alice'], left: [] },
      { joined: ['bob', 'carol', 'dave'], left: ['erin:disconnected'] },
    ]);
    expect(sent[1].members).toBe(3);
    // Quiet for a whole window: the next change goes out at once again.
    await vi.advanceTimersByTimeAsync(200);
    notices.left('dev', 'bob', 'left', 2);
    expect(sent.map(names)[2]).toEqual({ joined: [], left: ['bob:left'] });
  });

  it('announces nothing for a user who left and came back within one batch, and both for one who joined and left', async () => {
    notices.joined('dev', 'first', 1); // opens the window
    notices.joined('dev', 'flicker', 2);
    notices.left('dev', 'flicker', 'disconnected', 1);
    notices.left('dev', 'back', 'disconnected', 1);
    notices.joined('dev', 'back', 2);
    notices.joined('dev', 'stays', 3);
    await vi.advanceTimersByTimeAsync(200);
    expect(sent.map(names)).toEqual([
      { joined: ['first'], left: [] },
      { joined: ['flicker', 'stays'], left: ['flicker:disconnected'] },
    ]);
  });

  it('keeps rooms apart', async () => {
    notices.joined('a', 'u1', 1);
    notices.joined('b', 'u2', 1);
    notices.joined('a', 'u3', 2);
    await vi.advanceTimersByTimeAsync(200);
    expect(sent.map((e) => `${e.room}:${e.joined.join(',')}`)).toEqual(['a:u1', 'b:u2', 'a:u3']);
  });

  it('gathers a large room for the summary interval instead', async () => {
    notices.joined('big', 'u0', 51);
    for (let i = 1; i <= 100; i++) notices.joined('big', `u${i}`, 51 + i);
    await vi.advanceTimersByTimeAsync(4999);
    expect(sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent).toHaveLength(2);
    expect(sent[1].joined).toHaveLength(100);
    expect(sent[1].members).toBe(151);
  });

  it('stretches the window of a huge room with its size', async () => {
    notices.joined('huge', 'u0', 20_000);
    notices.joined('huge', 'u1', 20_001);
    await vi.advanceTimersByTimeAsync(19_999);
    expect(sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent).toHaveLength(2);
  });

  it('publishes every change alone when the interval is 0', () => {
    notices = make(0);
    notices.joined('dev', 'a', 1);
    notices.joined('dev', 'b', 2);
    expect(sent.map((e) => e.joined[0])).toEqual(['a', 'b']);
  });

  it('flush() publishes what is gathered and survives a failing publisher', async () => {
    let fail = true;
    notices = new PresenceNotices(
      async (e) => {
        if (fail) throw new Error('broker down');
        sent.push(e);
      },
      { intervalMs: 200, summaryAbove: 50, summaryMs: 5000 },
    );
    notices.joined('dev', 'a', 1); // rejected: must not surface as an unhandled rejection
    fail = false;
    notices.joined('dev', 'b', 2);
    await notices.flush();
    expect(sent.map(names)).toEqual([{ joined: ['b'], left: [] }]);
  });
});

describe('room frames of presence events', () => {
  const ev = (joined: string[], left: string[], members: number): PresenceEvent => ({
    kind: 'presence',
    room: 'dev',
    joined,
    left: left.map((user) => ({ user, reason: 'disconnected' as const })),
    members,
    ts: '2026-12-01T00:00:00.000Z',
  });
  const v1 = (e: PresenceEvent) => roomFrames(e, 'v1', 50).map((b) => JSON.parse(b.toString()));
  const legacy = (e: PresenceEvent) => roomFrames(e, 'legacy', 50).map((b) => JSON.parse(b.toString()));

  it('keeps the per-user frames for one change in a small room', () => {
    expect(v1(ev(['alice'], [], 3))).toEqual([{ type: 'user_joined', room: 'dev', user: 'alice', ts: '2026-12-01T00:00:00.000Z' }]);
    expect(v1(ev([], ['bob'], 3))).toEqual([{ type: 'user_left', room: 'dev', user: 'bob', ts: '2026-12-01T00:00:00.000Z', reason: 'disconnected' }]);
    expect(legacy(ev(['alice'], [], 3))).toEqual([
      expect.objectContaining({ type: 'system_message', sender: 'system', content: 'alice joined the room dev', room: 'dev', event: 'user_joined', user: 'alice' }),
    ]);
  });

  it('sends a batch as one presence frame (v1) and one line per kind (original)', () => {
    expect(v1(ev(['alice', 'bob'], ['carol'], 5))).toEqual([
      { type: 'presence', room: 'dev', joined: ['alice', 'bob'], joinedCount: 2, left: [{ user: 'carol', reason: 'disconnected' }], leftCount: 1, members: 5, ts: '2026-12-01T00:00:00.000Z' },
    ]);
    expect(legacy(ev(['alice', 'bob'], ['carol'], 5)).map((f) => [f.content, f.event])).toEqual([
      ['alice and bob joined the room dev', 'users_joined'],
      ['carol left the room', 'user_left'],
    ]);
  });

  it('summarises a large room: three names and the counts', () => {
    const joined = Array.from({ length: 40 }, (_, i) => `u${i}`);
    const [f] = v1(ev(joined, [], 5000));
    expect(f).toMatchObject({ type: 'presence', joined: ['u0', 'u1', 'u2'], joinedCount: 40, members: 5000 });
    const [line] = legacy(ev(joined, ['x', 'y'], 5000));
    expect(line).toMatchObject({ content: 'u0, u1, u2 and 37 others joined the room dev', event: 'users_joined', users: ['u0', 'u1', 'u2'], count: 40 });
    // One change in a large room is a summary too (v1): its clients cannot keep a full list anyway.
    expect(v1(ev(['solo'], [], 5000))[0]).toMatchObject({ type: 'presence', joined: ['solo'], joinedCount: 1 });
  });

  it('spells name lists naturally', () => {
    expect(nameList(['a'], 1)).toBe('a');
    expect(nameList(['a', 'b'], 2)).toBe('a and b');
    expect(nameList(['a', 'b', 'c'], 3)).toBe('a, b and c');
    expect(nameList(['a', 'b', 'c'], 4)).toBe('a, b, c and 1 other');
    expect(nameList(['a', 'b', 'c'], 41)).toBe('a, b, c and 38 others');
  });
});
