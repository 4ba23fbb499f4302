/**
 * What the load generator says to each kind of system, and how it reads the replies without
 * parsing them. Every chat message the generator sends carries a fixed-width marker
 * `~B~<step:4>~<sent µs:16>~` in its text; a receiver finds it with one `indexOf` and reads the
 * digits in place, so counting a delivery costs no JSON parse and no string.
 */
import { offeredProtocols } from '../../src/protocol';
import type { Dialect } from './systems';

export type { Dialect };

export const MARKER = Buffer.from('~B~');
const STEP_DIGITS = 4;
const TIME_DIGITS = 16;

/** Microseconds on the machine's monotonic clock, comparable across processes (CLOCK_MONOTONIC). */
export function nowUs(): number {
  const [s, ns] = process.hrtime();
  return s * 1e6 + Math.floor(ns / 1e3);
}

/** The marked text of one benchmark message. */
export function markedText(step: number, sentUs: number): string {
  return `~B~${String(step).padStart(STEP_DIGITS, '0')}~${String(sentUs).padStart(TIME_DIGITS, '0')}~`;
}

/** The whole frame carrying `text`, in the system's dialect. */
export function chatFrame(dialect: Dialect, text: string): string {
  return dialect === 'socketio' ? `42["message","${text}"]` : `{"type":"message","text":"${text}"}`;
}

/** Path and query of client `username`'s handshake. */
export function handshakePath(dialect: Dialect, path: string, username: string, room: string): string {
  const q = `username=${encodeURIComponent(username)}&room=${encodeURIComponent(room)}`;
  return dialect === 'socketio' ? `${path}?EIO=4&transport=websocket&${q}` : `${path}?${q}`;
}

/**
 * The Sec-WebSocket-Protocol value of a handshake: chatfabric's dialect and, for a client that
 * resumes, its session token (a subprotocol value, never the URL: proxies log URLs).
 */
export function handshakeProtocol(dialect: Dialect, session?: string): string | undefined {
  if (dialect !== 'chatfabric') return undefined;
  return offeredProtocols({ v1: true, session }).join(', ');
}

/** Reads `count` ASCII digits at `at`; NaN if any is not a digit. */
function digits(buf: Buffer, at: number, count: number): number {
  let v = 0;
  for (let i = 0; i < count; i++) {
    const d = buf[at + i] - 48;
    if (d < 0 || d > 9) return NaN;
    v = v * 10 + d;
  }
  return v;
}

/** Finds the marker in `buf[start, end)`; returns [step, sentUs] or null. */
export function readMarker(buf: Buffer, start: number, end: number): [number, number] | null {
  const at = buf.subarray(start, end).indexOf(MARKER);
  if (at < 0) return null;
  const p = start + at + MARKER.length;
  if (p + STEP_DIGITS + 1 + TIME_DIGITS > end) return null;
  const step = digits(buf, p, STEP_DIGITS);
  const sent = digits(buf, p + STEP_DIGITS + 1, TIME_DIGITS);
  return Number.isNaN(step) || Number.isNaN(sent) ? null : [step, sent];
}

/** True when `buf[start, end)` begins with `prefix`. */
export function startsWith(buf: Buffer, start: number, end: number, prefix: Buffer): boolean {
  if (end - start < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (buf[start + i] !== prefix[i]) return false;
  return true;
}
