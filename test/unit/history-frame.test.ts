/**
 * historyFrame: a join's history frame is never larger than the room the connection's hard cap
 * leaves for it; a batch that would be is cut to its newest messages, and a resume is told
 * which ids were left out.
 */
import { describe, expect, it } from 'vitest';
import { historyFrame } from '../../src/history-frame';
import type { ChatMessage, HistoryBatch } from '../../src/protocol';

const msgs = (from: number, to: number, text = 'x'.repeat(100)): ChatMessage[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ id: from + i, room: 'r', from: 'alice', text, ts: '2026-12-01T00:00:00.000Z' }));

const batch = (messages: ChatMessage[], gap: HistoryBatch['gap'] = null, reset = false): HistoryBatch => ({ messages, gap, reset });

describe('historyFrame', () => {
  it('leaves a batch that fits exactly as it is', () => {
    const b = batch(msgs(1, 10));
    const f = historyFrame('r', b, true, 1 << 20, 7);
    expect(JSON.parse(f.data)).toEqual({ type: 'history', room: 'r', ...b, ref: 7 });
    expect(f.messages).toBe(b.messages);
  });

  it('cuts a resume to the newest messages that fit and reports the rest as a gap', () => {
    const b = batch(msgs(1, 100));
    const max = 4000;
    const f = historyFrame('r', b, true, max, 'j');
    expect(Buffer.byteLength(f.data)).toBeLessThanOrEqual(max);
    const parsed = JSON.parse(f.data);
    const kept = parsed.messages.map((m: ChatMessage) => m.id);
    expect(kept.length).toBeGreaterThan(10);
    expect(kept[kept.length - 1]).toBe(100);
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => kept[0] + i));
    expect(parsed.gap).toEqual({ from: 1, to: kept[0] - 1 });
    expect(parsed).toMatchObject({ type: 'history', room: 'r', reset: false, ref: 'j' });
    expect(f.messages.map((m) => m.id)).toEqual(kept);
    // As many as fit: one more would not have.
    const oneMore = { type: 'history', room: 'r', messages: msgs(kept[0] - 1, 100), gap: { from: 1, to: kept[0] - 2 }, reset: false, ref: 'j' };
    expect(Buffer.byteLength(JSON.stringify(oneMore))).toBeGreaterThan(max);
  });

  it('extends a gap the history already had', () => {
    const f = historyFrame('r', batch(msgs(51, 150), { from: 11, to: 50 }), true, 4000);
    const parsed = JSON.parse(f.data);
    expect(parsed.gap).toEqual({ from: 11, to: parsed.messages[0].id - 1 });
  });

  it('cuts a join without after (or a reset) without inventing a gap', () => {
    for (const b of [batch(msgs(1, 100)), batch(msgs(1, 100), null, true)]) {
      const f = historyFrame('r', b, b.reset, 4000);
      const parsed = JSON.parse(f.data);
      expect(Buffer.byteLength(f.data)).toBeLessThanOrEqual(4000);
      expect(parsed.gap).toBeNull();
      expect(parsed.reset).toBe(b.reset);
      expect(parsed.messages.at(-1).id).toBe(100);
    }
  });

  it('counts bytes, not characters', () => {
    const f = historyFrame('r', batch(msgs(1, 100, '😀'.repeat(100))), true, 8000);
    expect(Buffer.byteLength(f.data)).toBeLessThanOrEqual(8000);
    expect(JSON.parse(f.data).messages.length).toBeLessThan(20);
  });
});
