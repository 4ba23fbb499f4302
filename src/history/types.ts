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
