/**
 * Turns a client's text frame (either dialect) into one dialect-free Request, or a ProtocolError.
 * Everything a client can ask for goes through here, so validation lives in one place.
 */
import { ErrorCode } from './codes.js';
import type { Dialect, Ref } from './frames.js';
import { isValidRoom, isValidUsername, DEFAULT_ROOM } from './names.js';
import { sanitizeText, textLength } from './text.js';

export type Request =
  | { kind: 'say'; text: string; ref?: Ref }
  | { kind: 'join'; room: string; after?: number; ref?: Ref }
  | { kind: 'leave'; ref?: Ref }
  | { kind: 'users'; room?: string; ref?: Ref }
  | { kind: 'rooms'; ref?: Ref }
  | { kind: 'direct'; to: string; text: string; ref?: Ref }
  | { kind: 'ping'; ref?: Ref }
  | { kind: 'help'; ref?: Ref }
  | { kind: 'quit'; ref?: Ref };

export interface ParseLimits {
  maxFrameBytes: number;
  maxMessageLength: number;
}

/** A request the server refuses; `ref` is echoed so the client can match it. */
export class ProtocolError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly ref?: Ref,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** The slash commands, with their usage and help, in the order /help lists them. */
export const COMMANDS: readonly { name: string; usage: string; help: string }[] = [
  { name: 'help', usage: '/help', help: 'show this help' },
  { name: 'users', usage: '/users [room]', help: 'list users online, or in one room' },
  { name: 'rooms', usage: '/rooms', help: 'list rooms with members' },
  { name: 'join', usage: '/join <room>', help: 'switch to a room (created on first join)' },
  { name: 'leave', usage: '/leave', help: `leave the room and return to ${DEFAULT_ROOM}` },
  { name: 'msg', usage: '/msg <user> <text>', help: 'send a direct message to a user anywhere in the cluster' },
  { name: 'quit', usage: '/quit', help: 'disconnect' },
];

const LEGACY_TYPES: Record<string, (f: Record<string, unknown>, limits: ParseLimits) => Request> = {
  chat_message: (f, limits) => sayOrCommand(requireString(f, 'content'), limits),
  join_room: (f) => ({ kind: 'join', room: requireRoom(f.room) }),
  leave_room: () => ({ kind: 'leave' }),
  list_users: (f) => ({ kind: 'users', room: optionalRoom(f.room) }),
  list_rooms: () => ({ kind: 'rooms' }),
};

const V1_TYPES: Record<string, (f: Record<string, unknown>, limits: ParseLimits) => Request> = {
  message: (f, limits) => sayOrCommand(requireString(f, 'text'), limits),
  join: (f) => ({ kind: 'join', room: requireRoom(f.room), after: optionalOffset(f.after) }),
  leave: () => ({ kind: 'leave' }),
  users: (f) => ({ kind: 'users', room: optionalRoom(f.room) }),
  rooms: () => ({ kind: 'rooms' }),
  direct: (f, limits) => ({ kind: 'direct', to: requireUser(f.to), text: chatText(requireString(f, 'text'), limits) }),
  ping: () => ({ kind: 'ping' }),
  help: () => ({ kind: 'help' }),
};

/**
 * Parses one text frame. `bytes` is the frame's size on the wire, checked before JSON.parse
 * so that an oversize frame costs no parsing.
 */
export function parseRequest(data: string, bytes: number, dialect: Dialect, limits: ParseLimits): Request {
  if (bytes > limits.maxFrameBytes) {
    throw new ProtocolError(ErrorCode.FrameTooLarge, `frame is ${bytes} bytes; the limit is ${limits.maxFrameBytes}`);
  }
  let frame: unknown;
  try {
    frame = JSON.parse(data);
  } catch {
    throw new ProtocolError(ErrorCode.BadJson, 'frame is not valid JSON');
  }
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) {
    throw new ProtocolError(ErrorCode.InvalidFrame, 'frame must be a JSON object');
  }
  const f = frame as Record<string, unknown>;
  const ref = readRef(f.ref);
  if (typeof f.type !== 'string') {
    throw new ProtocolError(ErrorCode.InvalidFrame, 'frame needs a string "type"', ref);
  }
  const table = dialect === 'v1' ? V1_TYPES : LEGACY_TYPES;
  const build = Object.hasOwn(table, f.type) ? table[f.type] : undefined;
  if (!build) {
    const known = Object.keys(table).join(', ');
    throw new ProtocolError(ErrorCode.UnknownType, `unknown type "${clip(f.type)}"; expected one of: ${known}`, ref);
  }
  try {
    const request = build(f, limits);
    if (ref !== undefined) request.ref = ref;
    return request;
  } catch (err) {
    if (err instanceof ProtocolError && ref !== undefined) throw new ProtocolError(err.code, err.message, ref);
    throw err;
  }
}

/**
 * Chat text that starts with `/` is a command (`/join dev`); `//` escapes a literal slash.
 * Both dialects accept commands this way, as the original server did.
 */
export function sayOrCommand(raw: string, limits: ParseLimits): Request {
  if (raw.startsWith('/') && !raw.startsWith('//')) return parseCommand(raw.trim(), limits);
  const text = raw.startsWith('//') ? raw.slice(1) : raw;
  return { kind: 'say', text: chatText(text, limits) };
}

export function parseCommand(line: string, limits: ParseLimits): Request {
  const [head, ...args] = line.slice(1).split(/\s+/);
  const name = head.toLowerCase();
  switch (name) {
    case 'help':
      return { kind: 'help' };
    case 'rooms':
      return { kind: 'rooms' };
    case 'leave':
      return { kind: 'leave' };
    case 'quit':
      return { kind: 'quit' };
    case 'users':
      return { kind: 'users', room: args[0] ? requireRoom(args[0]) : undefined };
    case 'join':
      if (!args[0]) throw new ProtocolError(ErrorCode.InvalidField, 'usage: /join <room>');
      return { kind: 'join', room: requireRoom(args[0]) };
    case 'msg': {
      if (!args[0] || args.length < 2) throw new ProtocolError(ErrorCode.InvalidField, 'usage: /msg <user> <text>');
      const text = line.slice(line.indexOf(args[0], 1 + head.length) + args[0].length).trim();
      return { kind: 'direct', to: requireUser(args[0]), text: chatText(text, limits) };
    }
    default:
      throw new ProtocolError(ErrorCode.UnknownCommand, `unknown command /${clip(head)}; try /help`);
  }
}

/** Validates and cleans chat text: the text policy applied (./text), then not blank and not too long. */
export function chatText(raw: string, limits: ParseLimits): string {
  const text = sanitizeText(raw);
  if (text.trim() === '') throw new ProtocolError(ErrorCode.EmptyMessage, 'message is empty');
  const len = textLength(text);
  if (len > limits.maxMessageLength) {
    throw new ProtocolError(
      ErrorCode.MessageTooLong,
      `message is ${len} characters; the limit is ${limits.maxMessageLength}`,
    );
  }
  return text;
}

function requireString(f: Record<string, unknown>, field: string): string {
  const v = f[field];
  if (typeof v !== 'string') throw new ProtocolError(ErrorCode.InvalidField, `"${field}" must be a string`);
  return v;
}

function requireRoom(v: unknown): string {
  if (v === undefined || v === null || v === '') {
    throw new ProtocolError(ErrorCode.InvalidField, '"room" is required');
  }
  if (!isValidRoom(v)) {
    throw new ProtocolError(
      ErrorCode.InvalidRoom,
      `invalid room name "${clip(shown(v))}": use 1-64 letters, digits, "_" or "-"`,
    );
  }
  return v;
}

function optionalRoom(v: unknown): string | undefined {
  return v === undefined || v === null || v === '' ? undefined : requireRoom(v);
}

function requireUser(v: unknown): string {
  if (!isValidUsername(v)) {
    throw new ProtocolError(
      ErrorCode.InvalidUsername,
      `invalid username "${clip(shown(v))}": use 1-32 letters, digits, "_" or "-"`,
    );
  }
  return v;
}

function optionalOffset(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new ProtocolError(ErrorCode.InvalidField, '"after" must be a non-negative integer message id');
  }
  return v;
}

function readRef(v: unknown): Ref | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.length <= 64) return v;
  return undefined;
}

/**
 * A client's value as an error message quotes it. String() is not safe on parsed JSON: a deeply
 * nested array overflows the stack and {"toString":1} throws; JSON is what the client sent anyway.
 */
function shown(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v !== 'object' || v === null) return String(v ?? '');
  try {
    return JSON.stringify(v);
  } catch {
    return Array.isArray(v) ? '[…]' : '{…}'; // too deep to write out
  }
}

/** Keeps echoed client input short in error messages, and under the text policy like any text shown. */
function clip(raw: string): string {
  const s = sanitizeText(raw);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
