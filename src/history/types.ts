import type { ChatMessage, HistoryBatch } from '../protocol';

/** Per-room message history, capped, with ids that are the room's offsets 1, 2, 3, ... */
export interface History {
  /** Stores the message and returns it with its id. */
  append(message: Omit<ChatMessage, 'id'>): Promise<ChatMessage>;
  /** The last `limit` messages, oldest first. */
  recent(room: string, limit: number): Promise<HistoryBatch>;
  /**
   * Every kept message after `afterId`, oldest first, with the ids that are gone (gap), or
   * `reset` with the recent ones when `afterId` is ahead of the room (its history expired).
   */
  since(room: string, afterId: number, recentLimit: number): Promise<HistoryBatch>;
  close(): Promise<void>;
}

/**
 * The bounds of a history store. Oldest messages go first when a room passes `size` or
 * `maxBytes` (the newest always stays); past `maxRooms`, the least recently written room loses
 * its whole history, and its next message is numbered above every id it gave out before, so a
 * client sees a gap, never an id used twice. Absent bounds are unbounded.
 */
export interface HistoryOptions {
  /** Messages kept per room (history.size). */
  size: number;
  /** A room's history is forgotten this long after its last message (history.idleTtlSec). */
  idleTtlMs: number;
  /** UTF-8 bytes of sender, text and time kept per room (history.maxBytes). */
  maxBytes?: number;
  /** Rooms that keep history at once (history.maxRooms). */
  maxRooms?: number;
}
