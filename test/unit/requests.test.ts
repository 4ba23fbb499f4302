/**
 * parseRequest: the one place where client frames of both dialects become Requests.
 * Pure function tests, no I/O.
 */
import { describe, expect, it } from 'vitest';
import {
  COMMANDS,
  ErrorCode,
  parseCommand,
  parseRequest,
  ProtocolError,
  sayOrCommand,
  type Dialect,
  type ParseLimits,
  type Request,
} from '../../src/protocol';

const LIMITS: ParseLimits = { maxFrameBytes: 1024, maxMessageLength: 10 };

/** Parses a frame object (or raw text) the way the connection does: byte length of the UTF-8 text. */
function parse(frame: unknown, dialect: Dialect = 'v1', limits: ParseLimits = LIMITS): Request {
  const text = typeof frame === 'string' ? frame : JSON.stringify(frame);
  return parseRequest(text, Buffer.byteLength(text), dialect, limits);
}

/** The ProtocolError a parse throws (fails the test if it does not throw one). */
function fail(frame: unknown, dialect: Dialect = 'v1', limits: ParseLimits = LIMITS): ProtocolError {
  try {
    parse(frame, dialect, limits);
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    return err as ProtocolError;
  }
  throw new Error(`expected ${JSON.stringify(frame)} (${dialect}) to be refused`);
}

const DIALECTS: Dialect[] = ['legacy', 'v1'];
/** The chat frame of each dialect carrying `text`. */
const chat = (dialect: Dialect, text: unknown, extra: Record<string, unknown> = {}) =>
  dialect === 'v1' ? { type: 'message', text, ...extra } : { type: 'chat_message', content: text, ...extra };

describe('parseRequest: original dialect types', () => {
  it.each<[string, unknown, Request]>([
    ['chat_message', { type: 'chat_message', content: 'hello' }, { kind: 'say', text: 'hello' }],
    [
      'chat_message with the Go client fields',
      { type: 'chat_message', sender: 'alice', content: 'hi', timestamp: '2024-01-01T00:00:00Z', room: 'global' },
      { kind: 'say', text: 'hi' },
    ],
    ['join_room', { type: 'join_room', room: 'dev' }, { kind: 'join', room: 'dev' }],
    ['leave_room', { type: 'leave_room' }, { kind: 'leave' }],
    ['list_users', { type: 'list_users' }, { kind: 'users' }],
    ['list_users with a room', { type: 'list_users', room: 'dev' }, { kind: 'users', room: 'dev' }],
    ['list_users with an empty room', { type: 'list_users', room: '' }, { kind: 'users' }],
    ['list_rooms', { type: 'list_rooms' }, { kind: 'rooms' }],
  ])('%s', (_name, frame, expected) => {
    const req = parse(frame, 'legacy');
    expect(req).toEqual(expected);
    if (expected.kind === 'users' && !('room' in expected)) expect((req as { room?: string }).room).toBeUndefined();
  });

  it('does not know the extended types', () => {
    for (const type of ['message', 'join', 'leave', 'users', 'rooms', 'direct', 'ping', 'help', 'system_message']) {
      expect(fail({ type }, 'legacy').code).toBe(ErrorCode.UnknownType);
    }
  });
});

describe('parseRequest: extended dialect types', () => {
  it.each<[string, unknown, Request]>([
    ['message', { type: 'message', text: 'hello' }, { kind: 'say', text: 'hello' }],
    ['message with a ref', { type: 'message', text: 'hello', ref: 'r1' }, { kind: 'say', text: 'hello', ref: 'r1' }],
    ['message with a numeric ref', { type: 'message', text: 'hello', ref: 42 }, { kind: 'say', text: 'hello', ref: 42 }],
    ['join', { type: 'join', room: 'dev' }, { kind: 'join', room: 'dev' }],
    ['join with after', { type: 'join', room: 'dev', after: 17 }, { kind: 'join', room: 'dev', after: 17 }],
    ['join with after 0', { type: 'join', room: 'dev', after: 0 }, { kind: 'join', room: 'dev', after: 0 }],
    ['join with after null', { type: 'join', room: 'dev', after: null }, { kind: 'join', room: 'dev' }],
    ['leave', { type: 'leave', ref: 3 }, { kind: 'leave', ref: 3 }],
    ['users', { type: 'users' }, { kind: 'users' }],
    ['users with a room', { type: 'users', room: 'Dev_2-x' }, { kind: 'users', room: 'Dev_2-x' }],
    ['rooms', { type: 'rooms' }, { kind: 'rooms' }],
    ['direct', { type: 'direct', to: 'bob', text: 'psst' }, { kind: 'direct', to: 'bob', text: 'psst' }],
    ['ping', { type: 'ping', ref: 'p' }, { kind: 'ping', ref: 'p' }],
    ['help', { type: 'help' }, { kind: 'help' }],
  ])('%s', (_name, frame, expected) => {
    expect(parse(frame, 'v1')).toEqual(expected);
  });

  it('does not know the original types', () => {
    for (const type of ['chat_message', 'join_room', 'leave_room', 'list_users', 'list_rooms']) {
      expect(fail({ type }, 'v1').code).toBe(ErrorCode.UnknownType);
    }
  });

  it('drops a ref that is not a short string or a finite number', () => {
    expect(parse({ type: 'ping', ref: { a: 1 } })).toEqual({ kind: 'ping' });
    expect(parse({ type: 'ping', ref: 'x'.repeat(65) })).toEqual({ kind: 'ping' });
    expect(parse({ type: 'ping', ref: 'x'.repeat(64) })).toEqual({ kind: 'ping', ref: 'x'.repeat(64) });
    expect(parse({ type: 'ping', ref: true })).toEqual({ kind: 'ping' });
  });
});

describe('parseRequest: frame errors', () => {
  it.each(DIALECTS)('%s: a frame above maxFrameBytes is frame_too_large, checked before parsing', (dialect) => {
    const big = JSON.stringify(chat(dialect, 'x'.repeat(LIMITS.maxFrameBytes)));
    const err = (() => {
      try {
        parseRequest(big, Buffer.byteLength(big), dialect, LIMITS);
      } catch (e) {
        return e as ProtocolError;
      }
      throw new Error('not refused');
    })();
    expect(err.code).toBe(ErrorCode.FrameTooLarge);
    expect(err.message).toContain(String(LIMITS.maxFrameBytes));
    // The size check comes first: an oversize frame is refused even when its text is not JSON.
    expect(() => parseRequest('{not json', LIMITS.maxFrameBytes + 1, dialect, LIMITS)).toThrow(
      expect.objectContaining({ code: ErrorCode.FrameTooLarge }),
    );
  });

  it('counts bytes, not characters: exactly maxFrameBytes passes, one more does not', () => {
    const base = JSON.stringify({ type: 'ping', ref: '' });
    const pad = LIMITS.maxFrameBytes - Buffer.byteLength(base);
    const exact = JSON.stringify({ type: 'ping', ref: 'x'.repeat(pad) });
    expect(Buffer.byteLength(exact)).toBe(LIMITS.maxFrameBytes);
    expect(parseRequest(exact, Buffer.byteLength(exact), 'v1', { ...LIMITS })).toMatchObject({ kind: 'ping' });
    const over = JSON.stringify({ type: 'ping', ref: 'x'.repeat(pad + 1) });
    expect(() => parseRequest(over, Buffer.byteLength(over), 'v1', LIMITS)).toThrow(
      expect.objectContaining({ code: ErrorCode.FrameTooLarge }),
    );
  });

  it.each(DIALECTS)('%s: text that is not JSON is bad_json', (dialect) => {
    for (const text of ['{', 'hello', '', '{"type":"message",}', "{'type':'message'}"]) {
      expect(fail(text, dialect).code).toBe(ErrorCode.BadJson);
    }
  });

  it.each(DIALECTS)('%s: JSON that is not an object is invalid_frame', (dialect) => {
    for (const text of ['[]', '[{"type":"ping"}]', 'null', '42', '"message"', 'true']) {
      expect(fail(text, dialect).code).toBe(ErrorCode.InvalidFrame);
    }
  });

  it.each(DIALECTS)('%s: an object without a string type is invalid_frame', (dialect) => {
    for (const frame of [{}, { text: 'hi' }, { type: 42 }, { type: null }, { type: ['message'] }, { type: { x: 1 } }]) {
      expect(fail(frame, dialect).code).toBe(ErrorCode.InvalidFrame);
    }
  });

  it('an unknown type is unknown_type, and the message lists the known ones', () => {
    const v1 = fail({ type: 'shout', text: 'hi' }, 'v1');
    expect(v1.code).toBe(ErrorCode.UnknownType);
    expect(v1.message).toContain('shout');
    for (const t of ['message', 'join', 'leave', 'users', 'rooms', 'direct', 'ping', 'help']) expect(v1.message).toContain(t);
    const legacy = fail({ type: 'shout' }, 'legacy');
    expect(legacy.code).toBe(ErrorCode.UnknownType);
    for (const t of ['chat_message', 'join_room', 'leave_room', 'list_users', 'list_rooms']) expect(legacy.message).toContain(t);
  });

  it('clips a long unknown type in the error message', () => {
    const err = fail({ type: 't'.repeat(5000) }, 'v1', { ...LIMITS, maxFrameBytes: 100_000 });
    expect(err.code).toBe(ErrorCode.UnknownType);
    expect(err.message.length).toBeLessThan(300);
  });

  it.each(DIALECTS)('%s: inherited Object.prototype names as type are unknown_type, not a crash', (dialect) => {
    for (const type of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__']) {
      const err = fail({ type, room: 'dev', text: 'x', content: 'x' }, dialect);
      expect(err.code).toBe(ErrorCode.UnknownType);
    }
    // A literal "__proto__" key in the JSON text is an own property after JSON.parse.
    expect(fail('{"type":"__proto__","__proto__":{"type":"ping"}}', dialect).code).toBe(ErrorCode.UnknownType);
  });

  it('a "__proto__" member in a valid frame does not change its meaning', () => {
    expect(parse('{"type":"ping","__proto__":{"kind":"quit"}}')).toEqual({ kind: 'ping' });
  });
});

describe('parseRequest: field validation', () => {
  it.each<[Dialect, unknown]>([
    ['v1', { type: 'message' }],
    ['v1', { type: 'message', text: 42 }],
    ['v1', { type: 'message', text: null }],
    ['v1', { type: 'message', text: ['hi'] }],
    ['v1', { type: 'message', content: 'hi' }],
    ['legacy', { type: 'chat_message' }],
    ['legacy', { type: 'chat_message', content: { text: 'hi' } }],
    ['legacy', { type: 'chat_message', text: 'hi' }],
    ['v1', { type: 'join' }],
    ['v1', { type: 'join', room: '' }],
    ['v1', { type: 'join', room: null }],
    ['legacy', { type: 'join_room' }],
    ['legacy', { type: 'join_room', room: '' }],
    ['v1', { type: 'join', room: 'dev', after: '5' }],
    ['v1', { type: 'join', room: 'dev', after: -1 }],
    ['v1', { type: 'join', room: 'dev', after: 1.5 }],
    ['v1', { type: 'join', room: 'dev', after: 2 ** 60 }],
    ['v1', { type: 'direct', to: 'bob' }],
    ['v1', { type: 'direct', to: 'bob', text: 7 }],
  ])('%s %j is invalid_field', (dialect, frame) => {
    expect(fail(frame, dialect).code).toBe(ErrorCode.InvalidField);
  });

  // docs/protocol.md 5.2: a room that is present but not a string breaks the naming rule
  // (invalid_room), and a missing or non-string `to` is invalid_username.
  it.each<[Dialect, unknown, string]>([
    ['v1', { type: 'join', room: 42 }, ErrorCode.InvalidRoom],
    ['v1', { type: 'join', room: ['dev'] }, ErrorCode.InvalidRoom],
    ['v1', { type: 'users', room: 42 }, ErrorCode.InvalidRoom],
    ['legacy', { type: 'join_room', room: 42 }, ErrorCode.InvalidRoom],
    ['legacy', { type: 'list_users', room: true }, ErrorCode.InvalidRoom],
    ['v1', { type: 'direct', text: 'hi' }, ErrorCode.InvalidUsername],
    ['v1', { type: 'direct', to: null, text: 'hi' }, ErrorCode.InvalidUsername],
    ['v1', { type: 'direct', to: 42, text: 'hi' }, ErrorCode.InvalidUsername],
  ])('%s %j (present but not a string, or a missing `to`) is %s', (dialect, frame, code) => {
    expect(fail(frame, dialect).code).toBe(code);
  });

  it('a direct message to a malformed username is invalid_username', () => {
    for (const to of ['bob.smith', 'bob smith', '*', 'x'.repeat(33), 'bøb']) {
      expect(fail({ type: 'direct', to, text: 'hi' }).code).toBe(ErrorCode.InvalidUsername);
    }
  });

  const BAD_ROOMS = ['.', 'a.b', '*', '>', 'dev.>', 'my room', ' dev', 'dev\n', 'r'.repeat(65), 'café', 'a/b', 'a:b'];
  it.each(BAD_ROOMS)('room %j is invalid_room in every place a room is named', (room) => {
    expect(fail({ type: 'join', room }, 'v1').code).toBe(ErrorCode.InvalidRoom);
    expect(fail({ type: 'users', room }, 'v1').code).toBe(ErrorCode.InvalidRoom);
    expect(fail({ type: 'join_room', room }, 'legacy').code).toBe(ErrorCode.InvalidRoom);
    expect(fail({ type: 'list_users', room }, 'legacy').code).toBe(ErrorCode.InvalidRoom);
  });

  it('an empty room name is refused (join) or means "everyone" (users)', () => {
    expect(fail({ type: 'join', room: '' }).code).toBe(ErrorCode.InvalidField);
    expect(parse({ type: 'users', room: '' })).toEqual({ kind: 'users' });
  });

  it('a 64-character room is fine; 65 is not', () => {
    expect(parse({ type: 'join', room: 'r'.repeat(64) })).toEqual({ kind: 'join', room: 'r'.repeat(64) });
    expect(fail({ type: 'join', room: 'r'.repeat(65) }).code).toBe(ErrorCode.InvalidRoom);
  });

  it('clips a long bad room name in the error message', () => {
    const err = fail({ type: 'join', room: '.'.repeat(3000) }, 'v1', { ...LIMITS, maxFrameBytes: 100_000 });
    expect(err.code).toBe(ErrorCode.InvalidRoom);
    expect(err.message.length).toBeLessThan(300);
  });
});

describe('parseRequest: chat text', () => {
  it.each(DIALECTS)('%s: length is counted in code points; an emoji counts as one', (dialect) => {
    const limits = { maxFrameBytes: 4096, maxMessageLength: 5 };
    // Five emoji: 10 UTF-16 units, 20 bytes, but 5 code points.
    expect(parse(chat(dialect, '😀😀😀😀😀'), dialect, limits)).toEqual({ kind: 'say', text: '😀😀😀😀😀' });
    expect(parse(chat(dialect, 'abcde'), dialect, limits)).toEqual({ kind: 'say', text: 'abcde' });
    const err = fail(chat(dialect, '😀😀😀😀😀😀'), dialect, limits);
    expect(err.code).toBe(ErrorCode.MessageTooLong);
    expect(err.message).toContain('6');
    expect(err.message).toContain('5');
    expect(fail(chat(dialect, 'abcdef'), dialect, limits).code).toBe(ErrorCode.MessageTooLong);
  });

  it('a direct message is held to the same length limit', () => {
    const limits = { maxFrameBytes: 4096, maxMessageLength: 3 };
    expect(parse({ type: 'direct', to: 'bob', text: '👍👍👍' }, 'v1', limits)).toMatchObject({ text: '👍👍👍' });
    expect(fail({ type: 'direct', to: 'bob', text: 'abcd' }, 'v1', limits).code).toBe(ErrorCode.MessageTooLong);
  });

  it.each(DIALECTS)('%s: blank text is empty_message', (dialect) => {
    for (const text of ['', ' ', '   \t ', '\n\n', '\u0007', '\u001b\u001b', ' \u0000 ']) {
      expect(fail(chat(dialect, text), dialect).code).toBe(ErrorCode.EmptyMessage);
    }
    expect(fail({ type: 'direct', to: 'bob', text: '  ' }).code).toBe(ErrorCode.EmptyMessage);
  });

  it.each(DIALECTS)('%s: control characters and ANSI escapes are stripped; tab and line breaks become spaces', (dialect) => {
    const limits = { maxFrameBytes: 4096, maxMessageLength: 100 };
    const req = parse(chat(dialect, '\u001b[31mred\u001b[0m\u0007 bell\u0000\u009b2J\u007f'), dialect, limits) as { text: string };
    expect(req.text).not.toMatch(/[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/);
    expect(req.text).toContain('red');
    expect(req.text).toContain(' bell');
    expect(parse(chat(dialect, 'a\tb\nc'), dialect, limits)).toEqual({ kind: 'say', text: 'a b c' });
    const direct = parse({ type: 'direct', to: 'bob', text: 'hi\u001b]0;pwned\u0007' }, 'v1', limits) as { text: string };
    expect(direct.text).not.toMatch(/[\u001b\u0007]/);
  });

  it('control characters do not count towards the length limit', () => {
    const limits = { maxFrameBytes: 4096, maxMessageLength: 3 };
    expect(parse(chat('v1', '\u001b\u001b\u001babc'), 'v1', limits)).toEqual({ kind: 'say', text: 'abc' });
  });

  it('keeps surrounding whitespace of ordinary text', () => {
    expect(parse(chat('v1', '  hi  '))).toEqual({ kind: 'say', text: '  hi  ' });
  });
});

describe('slash commands', () => {
  const limits = { maxFrameBytes: 4096, maxMessageLength: 50 };
  it.each<[string, Request]>([
    ['/help', { kind: 'help' }],
    ['/users', { kind: 'users' }],
    ['/users dev', { kind: 'users', room: 'dev' }],
    ['/rooms', { kind: 'rooms' }],
    ['/join x', { kind: 'join', room: 'x' }],
    ['/join Dev', { kind: 'join', room: 'Dev' }],
    ['/leave', { kind: 'leave' }],
    ['/msg bob hi there', { kind: 'direct', to: 'bob', text: 'hi there' }],
    ['/msg   bob   hi   there  ', { kind: 'direct', to: 'bob', text: 'hi   there' }],
    ['/msg bob bob', { kind: 'direct', to: 'bob', text: 'bob' }],
    ['/msg m msg', { kind: 'direct', to: 'm', text: 'msg' }],
    ['/quit', { kind: 'quit' }],
    ['/HELP', { kind: 'help' }],
    ['/Users dev', { kind: 'users', room: 'dev' }],
    ['/JOIN x', { kind: 'join', room: 'x' }],
    ['/Msg bob hi', { kind: 'direct', to: 'bob', text: 'hi' }],
    ['/QUIT', { kind: 'quit' }],
    ['/quit   ', { kind: 'quit' }],
  ])('%j', (line, expected) => {
    for (const dialect of DIALECTS) {
      const req = parse(chat(dialect, line), dialect, limits);
      expect(req).toEqual(expected);
      if (expected.kind === 'users' && !('room' in expected)) expect((req as { room?: string }).room).toBeUndefined();
    }
  });

  it('a ref on the chat frame is kept on the command', () => {
    expect(parse(chat('v1', '/rooms', { ref: 'c1' }))).toEqual({ kind: 'rooms', ref: 'c1' });
  });

  it('"//x" is the literal text "/x"', () => {
    for (const dialect of DIALECTS) {
      expect(parse(chat(dialect, '//x'), dialect, limits)).toEqual({ kind: 'say', text: '/x' });
      expect(parse(chat(dialect, '//quit'), dialect, limits)).toEqual({ kind: 'say', text: '/quit' });
      expect(parse(chat(dialect, '///'), dialect, limits)).toEqual({ kind: 'say', text: '//' });
    }
  });

  it('text with a slash that does not start it is a plain message', () => {
    expect(parse(chat('v1', 'and/or'), 'v1', limits)).toEqual({ kind: 'say', text: 'and/or' });
    expect(parse(chat('v1', ' /quit'), 'v1', limits)).toEqual({ kind: 'say', text: ' /quit' });
  });

  it('an unknown command is unknown_command', () => {
    for (const dialect of DIALECTS) {
      for (const line of ['/dance', '/', '/ help', '/helpme', '/nick bob']) {
        const err = fail(chat(dialect, line), dialect, limits);
        expect(err.code).toBe(ErrorCode.UnknownCommand);
      }
    }
    expect(fail(chat('v1', '/dance'), 'v1', limits).message).toContain('/dance');
  });

  it('command arguments are validated', () => {
    expect(fail(chat('v1', '/join'), 'v1', limits).code).toBe(ErrorCode.InvalidField);
    expect(fail(chat('v1', '/join   '), 'v1', limits).code).toBe(ErrorCode.InvalidField);
    expect(fail(chat('v1', '/join a.b'), 'v1', limits).code).toBe(ErrorCode.InvalidRoom);
    expect(fail(chat('v1', '/join *'), 'v1', limits).code).toBe(ErrorCode.InvalidRoom);
    expect(fail(chat('v1', '/users >'), 'v1', limits).code).toBe(ErrorCode.InvalidRoom);
    expect(fail(chat('v1', '/msg'), 'v1', limits).code).toBe(ErrorCode.InvalidField);
    expect(fail(chat('v1', '/msg bob'), 'v1', limits).code).toBe(ErrorCode.InvalidField);
    expect(fail(chat('v1', '/msg bob   '), 'v1', limits).code).toBe(ErrorCode.InvalidField);
    expect(fail(chat('v1', '/msg b.b hi'), 'v1', limits).code).toBe(ErrorCode.InvalidUsername);
    expect(fail(chat('v1', '/msg bob \u0007'), 'v1', limits).code).toBe(ErrorCode.EmptyMessage);
    expect(fail(chat('v1', `/msg bob ${'y'.repeat(51)}`), 'v1', limits).code).toBe(ErrorCode.MessageTooLong);
    expect(parse(chat('v1', `/msg bob ${'y'.repeat(50)}`), 'v1', limits)).toMatchObject({ kind: 'direct', to: 'bob' });
  });

  it('/msg strips whole escape sequences from its text', () => {
    expect(parse(chat('legacy', '/msg bob \u001b[2Jhi'), 'legacy', limits)).toEqual({ kind: 'direct', to: 'bob', text: 'hi' });
  });

  it('sayOrCommand and parseCommand agree with parseRequest', () => {
    expect(sayOrCommand('/join dev', limits)).toEqual({ kind: 'join', room: 'dev' });
    expect(sayOrCommand('//join dev', limits)).toEqual({ kind: 'say', text: '/join dev' });
    expect(parseCommand('/users', limits)).toEqual({ kind: 'users', room: undefined });
  });

  it('COMMANDS lists every command once, /help first', () => {
    expect(COMMANDS.map((c) => c.name)).toEqual(['help', 'users', 'rooms', 'join', 'leave', 'msg', 'quit']);
    for (const c of COMMANDS) {
      expect(c.usage.startsWith(`/${c.name}`)).toBe(true);
      expect(c.help.length).toBeGreaterThan(0);
      // Every listed command parses (with example arguments).
      const line = c.usage.replace('[room]', '').replace('<room>', 'dev').replace('<user>', 'bob').replace('<text>', 'hi');
      expect(() => parseCommand(line.trim(), limits)).not.toThrow();
    }
  });
});

describe('parseRequest: ref on errors', () => {
  it('echoes the ref on every error raised after the frame was read', () => {
    const cases: [Dialect, Record<string, unknown>, string][] = [
      ['v1', { type: 42 }, ErrorCode.InvalidFrame],
      ['v1', {}, ErrorCode.InvalidFrame],
      ['v1', { type: 'shout' }, ErrorCode.UnknownType],
      ['v1', { type: '__proto__' }, ErrorCode.UnknownType],
      ['v1', { type: 'message' }, ErrorCode.InvalidField],
      ['v1', { type: 'message', text: '' }, ErrorCode.EmptyMessage],
      ['v1', { type: 'message', text: 'x'.repeat(11) }, ErrorCode.MessageTooLong],
      ['v1', { type: 'message', text: '/dance' }, ErrorCode.UnknownCommand],
      ['v1', { type: 'message', text: '/join .' }, ErrorCode.InvalidRoom],
      ['v1', { type: 'join', room: '*' }, ErrorCode.InvalidRoom],
      ['v1', { type: 'join', room: 'dev', after: -3 }, ErrorCode.InvalidField],
      ['v1', { type: 'direct', to: 'a.b', text: 'hi' }, ErrorCode.InvalidUsername],
      ['legacy', { type: 'chat_message', content: '' }, ErrorCode.EmptyMessage],
      ['legacy', { type: 'join_room', room: 'a b' }, ErrorCode.InvalidRoom],
    ];
    for (const [dialect, frame, code] of cases) {
      for (const ref of ['abc', 7, 0]) {
        const err = fail({ ...frame, ref }, dialect);
        expect(err.code, JSON.stringify(frame)).toBe(code);
        expect(err.ref, JSON.stringify(frame)).toBe(ref);
      }
      const noRef = fail(frame, dialect);
      expect(noRef.ref).toBeUndefined();
    }
  });

  it('errors raised before the frame could be read carry no ref', () => {
    expect(fail('{"type":"message","ref":"r1"').ref).toBeUndefined();
    const text = JSON.stringify({ type: 'message', text: 'x', ref: 'r1' });
    try {
      parseRequest(text, LIMITS.maxFrameBytes + 1, 'v1', LIMITS);
      throw new Error('not refused');
    } catch (err) {
      expect((err as ProtocolError).code).toBe(ErrorCode.FrameTooLarge);
      expect((err as ProtocolError).ref).toBeUndefined();
    }
  });
});
