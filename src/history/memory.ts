import type { ChatMessage, HistoryBatch } from '../protocol';
import type { History, HistoryOptions } from './types';

interface Log {
  lastId: number;
  messages: ChatMessage[];
  /** Bytes of the kept messages as messageBytes counts them. */
  bytes: number;
  touched: number;
}

/** History in one process: capped per room, idle rooms forgotten, ids as in Redis. */
export class MemoryHistory implements History {
  /** In order of last write, oldest first (a room is moved to the end on every append). */
  private readonly rooms = new Map<string, Log>();
  /** The highest id any room dropped at the rooms limit gave out; fresh rooms number above it. */
  private floor = 0;

  constructor(private readonly opts: HistoryOptions & { now?: () => number }) {}

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  private log(room: string): Log | undefined {
    const log = this.rooms.get(room);
    if (log && this.now() - log.touched >= this.opts.idleTtlMs) {
      this.rooms.delete(room);
      return undefined;
    }
    return log;
  }

  async append(message: Omit<ChatMessage, 'id'>): Promise<ChatMessage> {
    let log = this.log(message.room);
    if (!log) log = { lastId: this.floor, messages: [], bytes: 0, touched: 0 };
    this.rooms.delete(message.room);
    this.rooms.set(message.room, log);
    log.touched = this.now();
    const stored: ChatMessage = { ...message, id: ++log.lastId };
    log.messages.push(stored);
    log.bytes += messageBytes(stored);
    // Oldest first while over either bound; the newest message always stays.
    const maxBytes = this.opts.maxBytes ?? Infinity;
    let drop = 0;
    while (log.messages.length - drop > 1 && (log.messages.length - drop > this.opts.size || log.bytes > maxBytes)) {
      log.bytes -= messageBytes(log.messages[drop++]);
    }
    if (drop) log.messages.splice(0, drop);
    this.evict(message.room);
    return { ...stored };
  }

  /** Forgets idle rooms, then the least recently written ones beyond maxRooms. */
  private evict(current: string): void {
    const now = this.now();
    for (const [room, log] of this.rooms) {
      if (room === current || now - log.touched < this.opts.idleTtlMs) break;
      this.rooms.delete(room);
    }
    const maxRooms = this.opts.maxRooms ?? Infinity;
    for (const [room, log] of this.rooms) {
      if (this.rooms.size <= maxRooms || room === current) break;
      this.floor = Math.max(this.floor, log.lastId);
      this.rooms.delete(room);
    }
  }

  async recent(room: string, limit: number): Promise<HistoryBatch> {
    const messages = limit > 0 ? (this.log(room)?.messages.slice(-limit) ?? []) : [];
    return { messages: messages.map((m) => ({ ...m })), gap: null, reset: false };
  }

  async since(room: string, afterId: number, recentLimit: number): Promise<HistoryBatch> {
    const log = this.log(room);
    const lastId = log?.lastId ?? 0;
    if (afterId > lastId) return { ...(await this.recent(room, recentLimit)), reset: true };
    const messages = (log?.messages ?? []).filter((m) => (m.id as number) > afterId).map((m) => ({ ...m }));
    return { messages, gap: gapBetween(afterId, messages[0]?.id ?? lastId + 1), reset: false };
  }

  async close(): Promise<void> {}
}

/** What a message costs against history.maxBytes: the UTF-8 bytes of its sender, text and time. */
export function messageBytes(m: Pick<ChatMessage, 'from' | 'text' | 'ts'>): number {
  return Buffer.byteLength(m.from) + Buffer.byteLength(m.text) + Buffer.byteLength(m.ts);
}

/** The ids missing between what the client saw and the first kept message, if any. */
export function gapBetween(afterId: number, firstKeptId: number | null): HistoryBatch['gap'] {
  if (firstKeptId === null || firstKeptId <= afterId + 1) return null;
  return { from: afterId + 1, to: firstKeptId - 1 };
}
