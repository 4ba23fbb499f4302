import type { ChatMessage, HistoryBatch } from '../protocol';
import type { History } from './types';

interface Log {
  lastId: number;
  messages: ChatMessage[];
  touched: number;
}

/** History in one process: capped per room, idle rooms forgotten, ids as in Redis. */
export class MemoryHistory implements History {
  private readonly rooms = new Map<string, Log>();

  constructor(private readonly opts: { size: number; idleTtlMs: number; now?: () => number }) {}

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
    if (!log) this.rooms.set(message.room, (log = { lastId: 0, messages: [], touched: 0 }));
    log.touched = this.now();
    const stored: ChatMessage = { ...message, id: ++log.lastId };
    log.messages.push(stored);
    if (log.messages.length > this.opts.size) log.messages.splice(0, log.messages.length - this.opts.size);
    return { ...stored };
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

/** The ids missing between what the client saw and the first kept message, if any. */
export function gapBetween(afterId: number, firstKeptId: number | null): HistoryBatch['gap'] {
  if (firstKeptId === null || firstKeptId <= afterId + 1) return null;
  return { from: afterId + 1, to: firstKeptId - 1 };
}
