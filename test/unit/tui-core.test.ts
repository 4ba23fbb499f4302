import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../tui/core/backoff';
import { RoomTracker } from '../../tui/core/tracker';
import { completeInput, parseInput } from '../../tui/input';
import { colourOf } from '../../tui/view';

describe('backoff with full jitter', () => {
  it('stays within the doubling window and the cap', () => {
    expect(backoffDelay(0, { baseMs: 100, random: () => 0.999 })).toBe(99);
    expect(backoffDelay(3, { baseMs: 100, random: () => 0.5 })).toBe(400);
    expect(backoffDelay(20, { baseMs: 100, capMs: 5000, random: () => 0.999 })).toBe(4995);
    expect(backoffDelay(5, { random: () => 0 })).toBe(0);
  });

  it('spreads a thousand clients over the window instead of one instant', () => {
    const delays = Array.from({ length: 1000 }, () => backoffDelay(2, { baseMs: 250 }));
    const buckets = new Set(delays.map((d) => Math.floor(d / 100)));
    expect(Math.max(...delays)).toBeLessThan(1000);
    expect(buckets.size).toBe(10);
  });
});

describe('RoomTracker', () => {
  it('advances the contiguous id through out-of-order arrivals and drops repeats', () => {
    const t = new RoomTracker();
    t.baseline('r', 0);
    expect(t.see('r', 2)).toBe(true);
    expect(t.resumeAfter('r')).toBe(0);
    expect(t.see('r', 1)).toBe(true);
    expect(t.resumeAfter('r')).toBe(2);
    expect(t.see('r', 2)).toBe(false);
    expect(t.see('r', 1)).toBe(false);
  });

  it('treats a gap as handled and starts over on reset', () => {
    const t = new RoomTracker();
    t.baseline('r', 3);
    t.skip('r', 10);
    expect(t.resumeAfter('r')).toBe(10);
    expect(t.see('r', 11)).toBe(true);
    t.reset('r');
    expect(t.resumeAfter('r')).toBe(0);
    expect(t.see('r', 1)).toBe(true);
  });

  it('keeps rooms apart', () => {
    const t = new RoomTracker();
    t.baseline('a', 5);
    expect(t.resumeAfter('b')).toBeUndefined();
    expect(t.see('b', 1)).toBe(true);
    expect(t.resumeAfter('a')).toBe(5);
  });
});

describe('terminal input', () => {
  it('parses commands and text', () => {
    expect(parseInput('hello')).toEqual({ kind: 'say', text: 'hello' });
    expect(parseInput('//shrug')).toEqual({ kind: 'say', text: '/shrug' });
    expect(parseInput('/join dev')).toEqual({ kind: 'join', room: 'dev' });
    expect(parseInput('/users')).toEqual({ kind: 'users', room: undefined });
    expect(parseInput('/users dev')).toEqual({ kind: 'users', room: 'dev' });
    expect(parseInput('/msg bob hi  there')).toEqual({ kind: 'msg', to: 'bob', text: 'hi  there' });
    expect(parseInput('/quit')).toEqual({ kind: 'quit' });
    expect(parseInput('/join')).toEqual({ kind: 'error', message: 'usage: /join <room>' });
    expect(parseInput('/msg bob')).toEqual({ kind: 'error', message: 'usage: /msg <user> <text>' });
    expect(parseInput('/nope')).toEqual({ kind: 'error', message: 'unknown command /nope; try /help' });
    // The server's grammar: names are checked before anything is sent.
    expect(parseInput('/join a.b')).toMatchObject({ kind: 'error', message: expect.stringContaining('invalid room name') });
  });

  it('completes commands, rooms after /join and users elsewhere', () => {
    const known = { rooms: ['dev', 'design', 'global'], users: ['alice', 'albert', 'bob'] };
    expect(completeInput('/jo', known)).toBe('/join ');
    expect(completeInput('/join gl', known)).toBe('/join global ');
    expect(completeInput('/join de', known)).toBe('/join de'); // dev and design share only "de"
    expect(completeInput('/msg b', known)).toBe('/msg bob ');
    expect(completeInput('hi al', known)).toBe('hi al'); // alice and albert share "al"
    expect(completeInput('hi ali', known)).toBe('hi alice ');
    expect(completeInput('hi zz', known)).toBe('hi zz');
  });

  it('gives each user a stable colour', () => {
    expect(colourOf('alice')).toBe(colourOf('alice'));
    const colours = new Set(['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace'].map(colourOf));
    expect(colours.size).toBeGreaterThan(2);
  });
});
