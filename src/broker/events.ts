/**
 * The one validator of what arrives from the broker, used by every Broker implementation.
 * Whoever can publish on the fabric can send anything, and a worker of another version may send
 * what this one does not know: an event is acted on only if every field has the type and size
 * this version publishes. What passes is rebuilt from the known fields only, so nothing extra
 * rides along into the frames that are spread from it.
 */
import { schema } from '../config';
import { isValidRoom, isValidUsername, sanitizeText, textLength, type ChatMessage, type DirectMessage, type LeaveReason } from '../protocol';
import type { PresenceEvent, RoomEvent, UserEvent } from './types';

/** Why an event was dropped; the `reason` label of chatfabric_broker_events_dropped_total. */
export type DropReason = 'too_large' | 'bad_json' | 'invalid' | 'handler_error';

export interface EventLimits {
  /** The longest chat or direct text accepted, in code points (limits.maxMessageLength). */
  maxTextLength: number;
}

export const DEFAULT_EVENT_LIMITS: EventLimits = { maxTextLength: schema.limits.maxMessageLength.default };

/** NATS's default max_payload. The largest event this version sends, a presence batch naming
 * every joiner of a busy window, stays far below it. */
export const MAX_EVENT_BYTES = 1024 * 1024;
/** Connection keys ("<worker id>/<connection>"): worker ids are host names plus a pid. */
const MAX_KEY_LENGTH = 512;
/** Direct message ids are UUIDs (36 characters). */
const MAX_ID_LENGTH = 64;
/** Date.prototype.toISOString(), which is how every worker writes times. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const LEAVE_REASONS: ReadonlySet<string> = new Set<LeaveReason>(['left', 'disconnected', 'timeout']);

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: DropReason; detail: string };

/** A user event with the user it is addressed to, as it travels on a worker's route. */
export interface UserEnvelope {
  user: string;
  event: UserEvent;
}

class Invalid extends Error {}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes and validates one event received on `room`'s subject. Never throws. */
export function decodeRoomEvent(room: string, data: Uint8Array, limits: EventLimits = DEFAULT_EVENT_LIMITS): Decoded<RoomEvent> {
  return decode(data, (v) => roomEvent(room, v, limits));
}

/** Decodes and validates one envelope received on a worker's route. Never throws. */
export function decodeUserEnvelope(data: Uint8Array, limits: EventLimits = DEFAULT_EVENT_LIMITS): Decoded<UserEnvelope> {
  return decode(data, (v) => {
    const o = object(v, 'envelope');
    const user = username(o.user, 'user');
    return { user, event: userEvent(user, o.event, limits) };
  });
}

function decode<T>(data: Uint8Array, validate: (v: unknown) => T): Decoded<T> {
  if (data.byteLength > MAX_EVENT_BYTES) return { ok: false, reason: 'too_large', detail: `${data.byteLength} bytes` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8.decode(data));
  } catch {
    return { ok: false, reason: 'bad_json', detail: 'not UTF-8 JSON' };
  }
  try {
    return { ok: true, value: validate(parsed) };
  } catch (err) {
    if (!(err instanceof Invalid)) throw err;
    return { ok: false, reason: 'invalid', detail: err.message };
  }
}

function roomEvent(room: string, v: unknown, limits: EventLimits): RoomEvent {
  const o = object(v, 'event');
  switch (o.kind) {
    case 'message': {
      const message = chatMessage(o.message, limits);
      if (message.room !== room) throw new Invalid('message.room: not the room of the subject');
      return { kind: 'message', message, origin: key(o.origin, 'origin') };
    }
    case 'presence':
      return presence(room, o);
    // The per-user events of earlier versions (a rolling upgrade mixes versions).
    case 'joined':
      sameRoom(room, o.room);
      return { kind: 'joined', room, user: username(o.user, 'user'), ts: time(o.ts, 'ts') };
    case 'left':
      sameRoom(room, o.room);
      return { kind: 'left', room, user: username(o.user, 'user'), ts: time(o.ts, 'ts'), reason: leaveReason(o.reason, 'reason') };
    default:
      throw new Invalid('kind: not a room event');
  }
}

function presence(room: string, o: Record<string, unknown>): PresenceEvent {
  sameRoom(room, o.room);
  const joined = array(o.joined, 'joined').map((u, i) => username(u, `joined[${i}]`));
  const left = array(o.left, 'left').map((l, i) => {
    const e = object(l, `left[${i}]`);
    return { user: username(e.user, `left[${i}].user`), reason: leaveReason(e.reason, `left[${i}].reason`) };
  });
  if (joined.length + left.length === 0) throw new Invalid('presence: no changes');
  return { kind: 'presence', room, joined, left, members: count(o.members, 'members'), ts: time(o.ts, 'ts') };
}

function chatMessage(v: unknown, limits: EventLimits): ChatMessage {
  const m = object(v, 'message');
  const id = m.id === null ? null : positive(m.id, 'message.id');
  if (!isValidRoom(m.room)) throw new Invalid('message.room: not a room name');
  return { id, room: m.room, from: username(m.from, 'message.from'), text: text(m.text, 'message.text', limits), ts: time(m.ts, 'message.ts') };
}

function userEvent(user: string, v: unknown, limits: EventLimits): UserEvent {
  const o = object(v, 'event');
  if (o.kind === 'direct') {
    const m = object(o.message, 'message');
    if (typeof m.id !== 'string' || m.id.length === 0 || m.id.length > MAX_ID_LENGTH) throw new Invalid('message.id: not a message id');
    const message: DirectMessage = {
      id: m.id,
      from: username(m.from, 'message.from'),
      to: username(m.to, 'message.to'),
      text: text(m.text, 'message.text', limits),
      ts: time(m.ts, 'message.ts'),
    };
    if (message.to !== user) throw new Invalid('message.to: not the user it is addressed to');
    return { kind: 'direct', message };
  }
  if (o.kind === 'replaced') {
    if (!isValidRoom(o.room)) throw new Invalid('room: not a room name');
    return { kind: 'replaced', by: key(o.by, 'by'), room: o.room };
  }
  throw new Invalid('kind: not a user event');
}

function object(v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Invalid(`${field}: not an object`);
  return v as Record<string, unknown>;
}

function array(v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) throw new Invalid(`${field}: not an array`);
  return v;
}

function sameRoom(room: string, v: unknown): void {
  if (v !== room) throw new Invalid('room: not the room of the subject');
}

function username(v: unknown, field: string): string {
  if (!isValidUsername(v)) throw new Invalid(`${field}: not a username`);
  return v;
}

function key(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_KEY_LENGTH) throw new Invalid(`${field}: not a connection key`);
  return v;
}

function text(v: unknown, field: string, limits: EventLimits): string {
  // Two UTF-16 units per code point at most: the cheap test first, on text of any size.
  if (typeof v !== 'string' || v.length > 2 * limits.maxTextLength || textLength(v) > limits.maxTextLength) {
    throw new Invalid(`${field}: not a string of at most ${limits.maxTextLength} characters`);
  }
  // Workers publish sanitised text only; anything else could drive the recipients' terminals.
  if (sanitizeText(v) !== v) throw new Invalid(`${field}: holds control characters`);
  return v;
}

function time(v: unknown, field: string): string {
  if (typeof v !== 'string' || !ISO_TIME.test(v) || !Number.isFinite(Date.parse(v))) throw new Invalid(`${field}: not an ISO 8601 time`);
  return v;
}

function positive(v: unknown, field: string): number {
  if (!Number.isSafeInteger(v) || (v as number) < 1) throw new Invalid(`${field}: not a positive integer`);
  return v as number;
}

function count(v: unknown, field: string): number {
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw new Invalid(`${field}: not a non-negative integer`);
  return v as number;
}

function leaveReason(v: unknown, field: string): LeaveReason {
  if (typeof v !== 'string' || !LEAVE_REASONS.has(v)) throw new Invalid(`${field}: not a leave reason`);
  return v as LeaveReason;
}
