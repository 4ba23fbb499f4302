/**
 * Naming rules for usernames and rooms. Both become NATS subject tokens and Redis key parts,
 * so the charset excludes `.`, `*`, `>`, whitespace and anything a terminal would interpret.
 */
import { SYSTEM_SENDER } from './frames.js';

/** Letters, digits, `_` and `-`; 1 to 32 characters. Case-sensitive. */
export const USERNAME_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
/** Letters, digits, `_` and `-`; 1 to 64 characters. Case-sensitive ("Dev" and "dev" are two rooms). */
export const ROOM_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** Client-chosen session token that lets a reconnect take over its own username claim. */
export const SESSION_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;

/** The room every user starts in and returns to on leave. */
export const DEFAULT_ROOM = 'global';

export function isValidUsername(name: unknown): name is string {
  return typeof name === 'string' && USERNAME_PATTERN.test(name);
}

export function isValidRoom(room: unknown): room is string {
  return typeof room === 'string' && ROOM_PATTERN.test(room);
}

export function isValidSession(token: unknown): token is string {
  return typeof token === 'string' && SESSION_PATTERN.test(token);
}

/**
 * Folds a username so that names a reader takes for one another compare equal: case, the
 * separators "_" and "-", the digits read as letters (0 o, 1 i, 3 e, 4 a, 5 s, 7 t), "l" and "i",
 * "rn" and "m", "vv" and "w". Usernames are ASCII, so these are the look-alikes there are; it is
 * used to compare with reserved names, never to store or show a name.
 */
export function foldUsername(name: string): string {
  return name
    .toLowerCase()
    .replace(/[_-]/g, '')
    .replace(/rn/g, 'm')
    .replace(/vv/g, 'w')
    .replace(/[013457l]/g, (c) => LOOKALIKES[c]);
}

const LOOKALIKES: Record<string, string> = { '0': 'o', '1': 'i', l: 'i', '3': 'e', '4': 'a', '5': 's', '7': 't' };

/**
 * True when `name` is one of `reserved` or the original dialect's notice sender, or folds to the
 * same letters (`SYSTEM`, `Adm1n`, `r00t`, `sys_tem`). The notice sender is reserved whatever the
 * configuration says, since the Go client shows every line from it as the server's.
 */
export function isReservedUsername(name: string, reserved: readonly string[]): boolean {
  const folded = foldUsername(name);
  return folded === NOTICE_SENDER_FOLDED || reserved.some((r) => foldUsername(r) === folded);
}

/** True when `name` reads as the notice sender `system` (see isReservedUsername). */
export function isNoticeSender(name: string): boolean {
  return foldUsername(name) === NOTICE_SENDER_FOLDED;
}

const NOTICE_SENDER_FOLDED = foldUsername(SYSTEM_SENDER);
