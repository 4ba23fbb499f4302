/**
 * Fields a fuzz run found to break the error messages that echo them: room and user names that
 * are deeply nested arrays, or objects whose toString is not a function. Each must get the same
 * clear error as any other bad name, never an exception of its own.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, parseRequest, ProtocolError, type Dialect } from '../../src/protocol';

const LIMITS = { maxFrameBytes: 16 * 1024, maxMessageLength: 2000 };
const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;

/** The error a raw frame gets; fails the test on anything but a ProtocolError. */
function refusal(text: string, dialect: Dialect): ProtocolError {
  try {
    parseRequest(text, Buffer.byteLength(text), dialect, LIMITS);
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    return err as ProtocolError;
  }
  throw new Error(`expected ${text.slice(0, 60)} to be refused`);
}

const HOSTILE = [deep(7000), '{"toString":1}', '{"toString":{},"valueOf":{}}', '[{"toString":1}]', '{"a":' + deep(3000) + '}'];

describe('hostile values in name fields', () => {
  for (const value of HOSTILE) {
    const shown = value.slice(0, 24);
    it(`a room of ${shown}… is invalid_room`, () => {
      for (const [dialect, frame] of [
        ['v1', `{"type":"join","room":${value}}`],
        ['v1', `{"type":"users","room":${value}}`],
        ['legacy', `{"type":"join_room","room":${value}}`],
        ['legacy', `{"type":"list_users","room":${value}}`],
      ] as const) {
        const err = refusal(frame, dialect);
        expect(err.code, frame.slice(0, 40)).toBe(ErrorCode.InvalidRoom);
        expect(err.message).toMatch(/^invalid room name ".{1,41}": use 1-64 letters/);
      }
    });

    it(`a direct message to ${shown}… is invalid_username`, () => {
      const err = refusal(`{"type":"direct","to":${value},"text":"hi","ref":3}`, 'v1');
      expect(err.code).toBe(ErrorCode.InvalidUsername);
      expect(err.message).toMatch(/^invalid username ".{1,41}": use 1-32 letters/);
      expect(err.ref).toBe(3);
    });
  }

  it('quotes a short array or object as the JSON sent, and a primitive as before', () => {
    expect(refusal('{"type":"join","room":[1,2]}', 'v1').message).toContain('"[1,2]"');
    expect(refusal('{"type":"join","room":{"toString":1}}', 'v1').message).toContain('"{"toString":1}"');
    expect(refusal('{"type":"join","room":42}', 'v1').message).toContain('"42"');
    expect(refusal('{"type":"direct","to":true,"text":"x"}', 'v1').message).toContain('"true"');
  });
});
