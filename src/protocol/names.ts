/**
 * Naming rules for usernames and rooms. Both become NATS subject tokens and Redis key parts,
 * so the charset excludes `.`, `*`, `>`, whitespace and anything a terminal would interpret.
 */

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
