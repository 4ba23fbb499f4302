import type { Redis } from 'ioredis';
import type { ChatMessage, HistoryBatch } from '../protocol';
import { gapBetween } from './memory';
import type { History } from './types';

/*
 * One stream per room, P history:<room>, with entry ids "0-<n>": XADD's "0-*" lets Redis
 * number them 1, 2, 3, ... itself (Redis 7.0+), so a message's id is its offset in the room
 * and a gap is plain arithmetic. MAXLEN caps the stream; PEXPIRE forgets idle rooms.
 */
const APPEND = `
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '0-*', 'f', ARGV[3], 't', ARGV[4], 'ts', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return id
`;

// KEYS[1] stream; ARGV[1] after id, ARGV[2] count. Returns {newest id, entries after ARGV[1]}, both
// read in one step. A script, not a MULTI, so it joins the auto-pipeline of the other resumes.
const SINCE = `
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local lastId = '0-0'
if last[1] then lastId = last[1][1] end
return {lastId, redis.call('XRANGE', KEYS[1], '(0-' .. ARGV[1], '+', 'COUNT', tonumber(ARGV[2]))}
`;

type Entry = [id: string, fields: string[]];
type Scripted = Redis & {
  cfAppend(key: string, size: number, ttlMs: number, from: string, text: string, ts: string): Promise<string>;
  cfSince(key: string, afterId: number, count: number): Promise<[lastId: string, entries: Entry[]]>;
};

export class RedisHistory implements History {
  private readonly redis: Scripted;

  /** The client is passed in and stays the caller's to close. */
  constructor(redis: Redis, private readonly opts: { prefix: string; size: number; idleTtlMs: number }) {
    this.redis = redis as Scripted;
    if (typeof this.redis.cfAppend !== 'function') {
      redis.defineCommand('cfAppend', { numberOfKeys: 1, lua: APPEND });
      redis.defineCommand('cfSince', { numberOfKeys: 1, lua: SINCE });
    }
  }

  private key(room: string): string {
    return `${this.opts.prefix}history:${room}`;
  }

  async append(message: Omit<ChatMessage, 'id'>): Promise<ChatMessage> {
    const id = await this.redis.cfAppend(this.key(message.room), this.opts.size, this.opts.idleTtlMs, message.from, message.text, message.ts);
    return { ...message, id: seqOf(id) };
  }

  async recent(room: string, limit: number): Promise<HistoryBatch> {
    if (limit <= 0) return { messages: [], gap: null, reset: false };
    const entries = (await this.redis.xrevrange(this.key(room), '+', '-', 'COUNT', limit)) as Entry[];
    return { messages: entries.reverse().map((e) => toMessage(room, e)), gap: null, reset: false };
  }

  async since(room: string, afterId: number, recentLimit: number): Promise<HistoryBatch> {
    const [newest, after] = await this.redis.cfSince(this.key(room), afterId, this.opts.size);
    const lastId = seqOf(newest);
    if (afterId > lastId) return { ...(await this.recent(room, recentLimit)), reset: true };
    const messages = after.map((e) => toMessage(room, e));
    return { messages, gap: gapBetween(afterId, messages[0]?.id ?? lastId + 1), reset: false };
  }

  async close(): Promise<void> {}
}

function seqOf(streamId: string): number {
  return Number(streamId.slice(streamId.indexOf('-') + 1));
}

function toMessage(room: string, [id, fields]: Entry): ChatMessage {
  const f: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) f[fields[i]] = fields[i + 1];
  return { id: seqOf(id), room, from: f.f, text: f.t, ts: f.ts };
}
