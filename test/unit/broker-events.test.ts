/**
 * The validator of broker input (src/broker/events.ts): it accepts every event this version
 * publishes, as published, and refuses the rest with a reason, without throwing.
 */
import { describe, expect, it } from 'vitest';
import { decodeRoomEvent, decodeUserEnvelope, MAX_EVENT_BYTES } from '../../src/broker/events';
import type { RoomEvent, UserEvent } from '../../src/broker/types';

const enc = new TextEncoder();
const bytes = (v: unknown) => enc.encode(typeof v === 'string' ? v : JSON.stringify(v));
const ts = '2026-12-01T20:04:11.210Z';
const message = { id: 7, room: 'dev', from: 'alice', text: 'hi 👋 there 👩‍👩‍👧‍👦 one line', ts };

describe('decodeRoomEvent', () => {
  const valid: RoomEvent[] = [
    { kind: 'message', message, origin: 'ip-10-0-0-1.ec2.internal-4711/c1z' },
    { kind: 'message', message: { ...message, id: null }, origin: 'w1/c2' },
    { kind: 'presence', room: 'dev', joined: ['carol', 'dave'], left: [{ user: 'erin', reason: 'disconnected' }], members: 7, ts },
    { kind: 'presence', room: 'dev', joined: [], left: [{ user: 'erin', reason: 'timeout' }], members: 0, ts },
    { kind: 'joined', room: 'dev', user: 'bob', ts },
    { kind: 'left', room: 'dev', user: 'bob', ts, reason: 'left' },
  ];

  it.each(valid.map((e) => [e.kind, e] as const))('accepts a %s event as published', (_kind, event) => {
    expect(decodeRoomEvent('dev', bytes(event))).toEqual({ ok: true, value: event });
  });

  it('accepts text up to the limit in code points, not UTF-16 units', () => {
    const text = '👋'.repeat(2000); // 4000 UTF-16 units
    expect(decodeRoomEvent('dev', bytes({ kind: 'message', origin: 'w', message: { ...message, text } })).ok).toBe(true);
    const over = decodeRoomEvent('dev', bytes({ kind: 'message', origin: 'w', message: { ...message, text: `${text}!` } }));
    expect(over).toMatchObject({ ok: false, reason: 'invalid' });
    const lower = decodeRoomEvent('dev', bytes({ kind: 'message', origin: 'w', message: { ...message, text: 'abcd' } }), { maxTextLength: 3 });
    expect(lower).toMatchObject({ ok: false, reason: 'invalid', detail: expect.stringContaining('message.text') });
  });

  it.each([
    ['too_large', new Uint8Array(MAX_EVENT_BYTES + 1).fill(0x20)],
    ['bad_json', bytes('{"kind":')],
    ['bad_json', new Uint8Array([0x7b, 0xff, 0x7d])],
    ['invalid', bytes('{"kind":"message"}')],
    ['invalid', bytes('null')],
    ['invalid', bytes('"message"')],
    ['invalid', bytes({ kind: 'message', origin: 'w', message: { ...message, room: 'elsewhere' } })],
    ['invalid', bytes({ kind: 'message', origin: 'w', message: { ...message, from: 'bad name' } })],
    ['invalid', bytes({ kind: 'message', origin: 'w', message: { ...message, text: 7 } })],
    ['invalid', bytes({ kind: 'message', origin: 'w', message: { ...message, text: 'bell\u0007' } })],
    // Workers publish text under the text policy (one line, no bidi or zero-width controls).
    ['invalid', bytes({ kind: 'message', origin: 'w', message: { ...message, text: 'hi\nsystem: fake' } })],
    ['invalid', bytes({ kind: 'message', origin: 'w', message: { ...message, text: 'abc\u202Edef' } })],
    ['invalid', bytes({ kind: 'message', origin: 'w', message: { ...message, id: 0 } })],
    ['invalid', bytes({ kind: 'message', origin: 'w', message: { ...message, id: '7' } })],
    ['invalid', bytes({ kind: 'message', origin: 'w', message: { ...message, ts: '2026-12-01' } })],
    ['invalid', bytes({ kind: 'message', origin: 'w'.repeat(513), message })],
    ['invalid', bytes({ kind: 'presence', room: 'dev', joined: 'carol', left: [], members: 1, ts })],
    ['invalid', bytes({ kind: 'presence', room: 'dev', joined: ['carol'], left: [], members: -1, ts })],
    ['invalid', bytes({ kind: 'presence', room: 'dev', joined: ['carol'], left: [null], members: 1, ts })],
    ['invalid', bytes({ kind: 'presence', room: 'other', joined: ['carol'], left: [], members: 1, ts })],
    ['invalid', bytes({ kind: 'left', room: 'dev', user: 'bob', ts, reason: 'banned' })],
  ])('refuses with %s: %#', (reason, data) => {
    const d = decodeRoomEvent('dev', data);
    expect(d).toMatchObject({ ok: false, reason });
    expect(typeof (d as { detail: string }).detail).toBe('string');
  });

  it('rebuilds the event from the known fields only', () => {
    const json = JSON.stringify({ kind: 'message', origin: 'w', extra: 1, message: { ...message, type: 'welcome' } }).replace('"extra"', '"__proto__":{"x":1},"extra"');
    const d = decodeRoomEvent('dev', bytes(json));
    expect(d).toEqual({ ok: true, value: { kind: 'message', origin: 'w', message } });
  });
});

describe('decodeUserEnvelope', () => {
  const dm = { id: '9afa876b-c395-4419-8707-1314740c04a2', from: 'alice', to: 'bob', text: 'lunch?', ts };
  const valid: UserEvent[] = [
    { kind: 'direct', message: dm },
    { kind: 'replaced', by: 'w2/c9', room: 'global' },
  ];

  it.each(valid.map((e) => [e.kind, e] as const))('accepts a %s event as sent', (_kind, event) => {
    expect(decodeUserEnvelope(bytes({ user: 'bob', event }))).toEqual({ ok: true, value: { user: 'bob', event } });
  });

  it.each([
    ['bad_json', bytes('garbage')],
    ['invalid', bytes({ event: valid[0] })],
    ['invalid', bytes({ user: 'bob' })],
    ['invalid', bytes({ user: 'bob', event: { kind: 'direct', message: { ...dm, to: 'carol' } } })],
    ['invalid', bytes({ user: 'bob', event: { kind: 'direct', message: { ...dm, id: '' } } })],
    ['invalid', bytes({ user: 'bob', event: { kind: 'direct', message: { ...dm, text: '\u001b]0;pwned\u0007' } } })],
    ['invalid', bytes({ user: 'bob', event: { kind: 'replaced', by: 'w2/c9', room: '*' } })],
    ['invalid', bytes({ user: 'bob', event: { kind: 'kick' } })],
  ])('refuses with %s: %#', (reason, data) => {
    expect(decodeUserEnvelope(data)).toMatchObject({ ok: false, reason });
  });
});
