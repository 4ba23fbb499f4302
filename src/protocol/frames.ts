/**
 * Frame shapes of both dialects, and the encoders that turn chat events into them.
 * The original dialect is the Go chatroom's `{type, sender, content, timestamp, room}`;
 * the extended dialect (`chatfabric.v1`) is documented in docs/protocol.md.
 */
import type { ErrorCode } from './codes.js';

/** The WebSocket subprotocol that selects the extended dialect. */
export const SUBPROTOCOL_V1 = 'chatfabric.v1';

export type Dialect = 'legacy' | 'v1';

/** A chat message as stored in history and carried on the broker. */
export interface ChatMessage {
  /** History offset within the room (1, 2, 3, ...); null when history was unavailable. */
  id: number | null;
  room: string;
  from: string;
  text: string;
  /** ISO 8601 time the server accepted the message. */
  ts: string;
}

/** A direct message from one user to another. Not stored in history. */
export interface DirectMessage {
  id: string;
  from: string;
  to: string;
  text: string;
  ts: string;
}

export type LeaveReason = 'left' | 'disconnected' | 'timeout';

/** Result of a history read for a joining or resuming client. */
export interface HistoryBatch {
  messages: ChatMessage[];
  /** Ids the client asked for that are no longer kept (trimmed or expired), inclusive. */
  gap: { from: number; to: number } | null;
  /** True when the client's id is ahead of the room's history: the room's history was reset. */
  reset: boolean;
}

export interface RoomSummary {
  name: string;
  users: number;
}

/** Sender name the original dialect shows on server notices. */
export const SYSTEM_SENDER = 'system';

// ---------------------------------------------------------------- original dialect

export type LegacyType =
  | 'chat_message'
  | 'system_message'
  | 'list_users'
  | 'list_rooms'
  | 'join_room'
  | 'leave_room';

export interface LegacyFrame {
  type: LegacyType;
  sender: string;
  content: string;
  timestamp: string;
  room: string;
  [extra: string]: unknown;
}

export function legacyChat(m: ChatMessage): LegacyFrame {
  return { type: 'chat_message', sender: m.from, content: m.text, timestamp: m.ts, room: m.room, id: m.id };
}

export function legacySystem(content: string, room: string, extra?: Record<string, unknown>): LegacyFrame {
  return { type: 'system_message', sender: SYSTEM_SENDER, content, timestamp: new Date().toISOString(), room, ...extra };
}

export function joinedText(user: string, room: string): string {
  return `${user} joined the room ${room}`;
}

export function leftText(user: string): string {
  return `${user} left the room`;
}

/**
 * Names for a notice: all of them, or the first few and "N others" when the batch is larger
 * than the names given ("alice, bob and 38 others").
 */
export function nameList(names: readonly string[], total: number): string {
  const others = total - names.length;
  if (others > 0) return `${names.join(', ')} and ${others} ${others === 1 ? 'other' : 'others'}`;
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

/** The original dialect's line for a batch of joins ("alice and bob joined the room dev"). */
export function joinedManyText(names: readonly string[], total: number, room: string): string {
  return total === 1 ? joinedText(names[0], room) : `${nameList(names, total)} joined the room ${room}`;
}

/** The original dialect's line for a batch of leaves ("alice and 3 others left the room"). */
export function leftManyText(names: readonly string[], total: number): string {
  return total === 1 ? leftText(names[0]) : `${nameList(names, total)} left the room`;
}

// ---------------------------------------------------------------- extended dialect

export type ServerFrame =
  | {
      type: 'welcome';
      user: string;
      room: string;
      worker: string;
      shard: string;
      protocol: string;
      limits: { maxFrameBytes: number; maxMessageLength: number; historyOnJoin: number; ratePerSec: number };
    }
  /** `users` lists at most `presence.listMax` members; `count` is the room's size. */
  | { type: 'joined'; room: string; users: string[]; count: number; ref?: Ref }
  | ({ type: 'history'; room: string; ref?: Ref } & HistoryBatch)
  | ({ type: 'message' } & ChatMessage)
  | { type: 'ack'; ref?: Ref; id: number | string | null; room?: string; ts: string }
  | ({ type: 'direct' } & DirectMessage)
  | { type: 'user_joined'; room: string; user: string; ts: string }
  | { type: 'user_left'; room: string; user: string; ts: string; reason: LeaveReason }
  /**
   * Several joins and leaves at once (a batch), or any change in a large room. The lists may
   * hold only the first few names (a summary); the counts are always complete.
   */
  | {
      type: 'presence';
      room: string;
      joined: string[];
      joinedCount: number;
      left: { user: string; reason: LeaveReason }[];
      leftCount: number;
      members: number;
      ts: string;
    }
  | { type: 'users'; room: string | null; users: string[]; ref?: Ref }
  | { type: 'rooms'; rooms: RoomSummary[]; ref?: Ref }
  | { type: 'help'; commands: { usage: string; help: string }[]; ref?: Ref }
  | { type: 'pong'; ref?: Ref; ts: string }
  | { type: 'error'; code: ErrorCode; message: string; ref?: Ref };

/** A client's correlation id, echoed back in the reply. */
export type Ref = string | number;

export function encode(frame: ServerFrame | LegacyFrame): string {
  return JSON.stringify(frame);
}
