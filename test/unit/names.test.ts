/**
 * Naming rules: usernames, rooms and session tokens become NATS subject tokens and Redis key
 * parts, so their charset and lengths are pinned here, edges included.
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_ROOM,
  foldUsername,
  isNoticeSender,
  isReservedUsername,
  isValidRoom,
  isValidSession,
  isValidUsername,
  ROOM_PATTERN,
  SESSION_PATTERN,
  USERNAME_PATTERN,
} from '../../src/protocol';

/** Strings every rule refuses: subject wildcards and separators, whitespace, terminal and non-ASCII characters. */
const ALWAYS_BAD = [
  '',
  '.',
  'a.b',
  '*',
  '>',
  'a*',
  'a>',
  'a b',
  ' a',
  'a ',
  'a\tb',
  'a\n',
  '\na',
  'a\u0000',
  'a\u001b[31m',
  'a/b',
  'a:b',
  'a@b',
  'a$b',
  'a%2e',
  'é',
  'ａ',
  'a😀',
  '名前',
  '\u200b',
];

describe('usernames', () => {
  it('accepts letters, digits, "_" and "-" from 1 to 32 characters', () => {
    for (const name of ['a', 'Z', '0', '_', '-', 'alice', 'Bob_42', 'x-y_z', '---', 'a'.repeat(32), '9'.repeat(32)]) {
      expect(isValidUsername(name), name).toBe(true);
      expect(USERNAME_PATTERN.test(name)).toBe(true);
    }
  });

  it('refuses 33 characters and more', () => {
    expect(isValidUsername('a'.repeat(33))).toBe(false);
    expect(isValidUsername('a'.repeat(1000))).toBe(false);
  });

  it.each(ALWAYS_BAD)('refuses %j', (name) => {
    expect(isValidUsername(name)).toBe(false);
  });

  it('refuses non-strings', () => {
    for (const v of [undefined, null, 42, ['alice'], { name: 'alice' }, true]) expect(isValidUsername(v)).toBe(false);
  });

  it('is case-sensitive (both spellings are valid and distinct)', () => {
    expect(isValidUsername('Alice')).toBe(true);
    expect(isValidUsername('alice')).toBe(true);
  });
});

describe('rooms', () => {
  it('accepts letters, digits, "_" and "-" from 1 to 64 characters', () => {
    for (const room of ['a', '1', '_', '-', DEFAULT_ROOM, 'Dev', 'dev', 'team-42_b', 'r'.repeat(64)]) {
      expect(isValidRoom(room), room).toBe(true);
      expect(ROOM_PATTERN.test(room)).toBe(true);
    }
  });

  it('refuses 65 characters and more', () => {
    expect(isValidRoom('r'.repeat(65))).toBe(false);
    expect(isValidRoom('r'.repeat(100_000))).toBe(false);
  });

  it.each(ALWAYS_BAD)('refuses %j', (room) => {
    expect(isValidRoom(room)).toBe(false);
  });

  it('refuses non-strings', () => {
    for (const v of [undefined, null, 0, ['dev'], {}]) expect(isValidRoom(v)).toBe(false);
  });

  it('the default room is "global" and is valid', () => {
    expect(DEFAULT_ROOM).toBe('global');
    expect(isValidRoom(DEFAULT_ROOM)).toBe(true);
  });
});

describe('session tokens', () => {
  it('accepts 16 to 128 letters, digits, "_" or "-"', () => {
    for (const token of ['a'.repeat(16), 'A1_-'.repeat(4), 'x'.repeat(128), 'abcdefghijklmnopqrstuvwxyz012345']) {
      expect(isValidSession(token), token).toBe(true);
      expect(SESSION_PATTERN.test(token)).toBe(true);
    }
  });

  it('refuses 15 characters or fewer, and 129 or more', () => {
    expect(isValidSession('a'.repeat(15))).toBe(false);
    expect(isValidSession('a')).toBe(false);
    expect(isValidSession('a'.repeat(129))).toBe(false);
  });

  it('refuses other characters even at a valid length', () => {
    for (const bad of ['a'.repeat(15) + '.', 'a'.repeat(15) + ' ', 'a'.repeat(15) + '=', 'a'.repeat(15) + '/', 'a'.repeat(15) + '+', 'é'.repeat(16)]) {
      expect(isValidSession(bad), bad).toBe(false);
    }
  });

  it('refuses non-strings and the empty string', () => {
    for (const v of ['', undefined, null, 1234567890123456, {}]) expect(isValidSession(v)).toBe(false);
  });
});

describe('reserved usernames', () => {
  const DEFAULT = ['system', 'server', 'admin', 'root', 'chatfabric'];

  it('refuses each reserved name in any case', () => {
    for (const name of ['system', 'SYSTEM', 'System', 'sYsTeM', 'Server', 'ADMIN', 'Root', 'ChatFabric', 'CHATFABRIC']) {
      expect(isReservedUsername(name, DEFAULT), name).toBe(true);
    }
  });

  it('refuses look-alikes: separators, digits read as letters, l for i, rn for m, vv for w', () => {
    for (const name of ['sys_tem', 's-y-s-t-e-m', '_system_', 'r00t', 'R0_0T', 'adm1n', 'admln', '4dmin', 'Adrnin', '5y5tem', 'sy5t3m', 'syst3m', 'ser-ver', 'chatfabr1c', 'chat_fabric']) {
      expect(isReservedUsername(name, DEFAULT), name).toBe(true);
    }
    expect(isReservedUsername('vvindows', ['windows'])).toBe(true);
  });

  it('accepts names that only contain or resemble part of one', () => {
    for (const name of ['alice', 'systems', 'system2', 'rooted', 'badminton', 'admin_bob', 'servers', 'root-cause', 'sysadmin', 'chat', 'fabric']) {
      expect(isReservedUsername(name, DEFAULT), name).toBe(false);
    }
  });

  it('uses the configured list, and always reserves the notice sender', () => {
    expect(isReservedUsername('moderator', ['moderator'])).toBe(true);
    expect(isReservedUsername('Moderat0r', ['moderator'])).toBe(true);
    expect(isReservedUsername('admin', ['moderator'])).toBe(false);
    // "system" is what the original dialect's clients show as the server, whatever the list says.
    expect(isReservedUsername('system', [])).toBe(true);
    expect(isReservedUsername('SYS_TEM', [])).toBe(true);
    expect(isReservedUsername('alice', [])).toBe(false);
  });

  it('folds both sides, so a configured entry in any form works', () => {
    expect(isReservedUsername('ops', ['OPS'])).toBe(true);
    expect(isReservedUsername('OPS', ['0ps'])).toBe(true);
  });

  it('isNoticeSender matches only the notice sender and its look-alikes', () => {
    expect(isNoticeSender('system')).toBe(true);
    expect(isNoticeSender('SYSTEM')).toBe(true);
    expect(isNoticeSender('5ys_tem')).toBe(true);
    expect(isNoticeSender('admin')).toBe(false);
    expect(isNoticeSender('systems')).toBe(false);
  });

  it('foldUsername is only a comparison key', () => {
    expect(foldUsername('R00t_Adm1n-X')).toBe('rootadminx');
    expect(foldUsername('alice')).toBe('aiice');
  });
});
