import type { Redis } from 'ioredis';
import type { ChatMessage, HistoryBatch } from '../protocol';
import { gapBetween } from './memory';
import type { History, HistoryOptions } from './types';

/*
 * Keys, under the configured prefix P (a single Redis: the script builds other rooms' key names):
 *   P history:<room>        STREAM  the room's messages, entry ids "0-<n>", PX idle ttl
 *   P history-bytes:<room>  STRING  bytes of the kept entries (sender, text, time), PX idle ttl
 *   P history-rooms         ZSET    room -> time of its last message, the rooms limit's order
 *   P history-floor         STRING  the highest id of any room dropped at the rooms limit
 * XADD's "0-*" lets Redis number entries 1, 2, 3, ... itself (Redis 7.0+), so a message's id
 * is its offset in the room and a gap is plain arithmetic. Streams cannot be trimmed by size,
 * so the script keeps each room's byte count beside it and trims the oldest entries itself.
 */

// KEYS[1] stream, KEYS[2] byte count, KEYS[3] rooms by last write, KEYS[4] floor.
// ARGV[1] size, ARGV[2] idle ttl ms, ARGV[3] from, ARGV[4] text, ARGV[5] ts, ARGV[6] max bytes,
// ARGV[7] max rooms, ARGV[8] now ms, ARGV[9] key prefix, ARGV[10] room. Returns the new entry id.
const APPEND = `
local size, ttl, maxBytes, maxRooms, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local function cost(fields)
  local n = 0
  for i = 2, #fields, 2 do n = n + #fields[i] end
  return n
end
local len = redis.call('XLEN', KEYS[1])
local stored = redis.call('GET', KEYS[2])
local bytes = stored and tonumber(stored)
if not bytes then
  -- A stream written before byte counts were kept: count it once.
  bytes = 0
  if len > 0 then
    for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do bytes = bytes + cost(e[2]) end
  end
end
local id
if len == 0 and redis.call('EXISTS', KEYS[1]) == 0 then
  -- A fresh room numbers above every id a dropped room gave out: no client holds these ids.
  local floor = tonumber(redis.call('GET', KEYS[4]) or '0')
  id = redis.call('XADD', KEYS[1], '0-' .. string.format('%d', floor + 1), 'f', ARGV[3], 't', ARGV[4], 'ts', ARGV[5])
else
  id = redis.call('XADD', KEYS[1], '0-*', 'f', ARGV[3], 't', ARGV[4], 'ts', ARGV[5])
end
len = len + 1
bytes = bytes + #ARGV[3] + #ARGV[4] + #ARGV[5]
-- Oldest first while over either bound; the newest entry always stays.
if len > size or (bytes > maxBytes and len > 1) then
  -- Read only about as many entries as go: usually one, past the count bound by one message.
  local keep, drop, cursor, count = nil, 0, '-', math.max(len - size, 1) + 1
  while not keep do
    local batch = redis.call('XRANGE', KEYS[1], cursor, '+', 'COUNT', count)
    count = math.min(count * 2, 256)
    for _, e in ipairs(batch) do
      if drop < len - 1 and (len - drop > size or bytes > maxBytes) then
        bytes = bytes - cost(e[2])
        drop = drop + 1
      else
        keep = e[1]
        break
      end
    end
    if not keep then cursor = '(' .. batch[#batch][1] end
  end
  redis.call('XTRIM', KEYS[1], 'MINID', keep)
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('SET', KEYS[2], bytes, 'PX', ttl)
-- The rooms limit: rooms whose history expired do not count; beyond it the least recently
-- written room (never this one) loses its history, and the floor remembers its last id.
-- Strictly after the last write, also within one millisecond: a tie would order rooms by name.
local score = now
local newest = redis.call('ZREVRANGE', KEYS[3], 0, 0, 'WITHSCORES')
if newest[2] and tonumber(newest[2]) >= score then score = tonumber(newest[2]) + 0.001 end
redis.call('ZADD', KEYS[3], score, ARGV[10])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - ttl)
local over = redis.call('ZCARD', KEYS[3]) - maxRooms
if over > 0 then
  local floor = tonumber(redis.call('GET', KEYS[4]) or '0')
  for _, r in ipairs(redis.call('ZRANGE', KEYS[3], 0, over)) do
    if over > 0 and r ~= ARGV[10] then
      local key = ARGV[9] .. 'history:' .. r
      local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)[1]
      if last then floor = math.max(floor, tonumber(string.sub(last[1], 3))) end
      redis.call('DEL', key, ARGV[9] .. 'history-bytes:' .. r)
      redis.call('ZREM', KEYS[3], r)
      over = over - 1
    end
  end
  redis.call('SET', KEYS[4], string.format('%d', floor))
end
redis.call('PEXPIRE', KEYS[3], ttl)
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
  cfAppend(
    stream: string,
    bytesKey: string,
    roomsKey: string,
    floorKey: string,
    size: number,
    ttlMs: number,
    from: string,
    text: string,
    ts: string,
    maxBytes: number,
    maxRooms: number,
    now: number,
    prefix: string,
    room: string,
  ): Promise<string>;
  cfSince(key: string, afterId: number, count: number): Promise<[lastId: string, entries: Entry[]]>;
};

/** Redis wants a number it can parse: an absent bound is as large as a safe integer. */
const bound = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? Number.MAX_SAFE_INTEGER : v);

export class RedisHistory implements History {
  private readonly redis: Scripted;

  /** The client is passed in and stays the caller's to close. */
  constructor(redis: Redis, private readonly opts: HistoryOptions & { prefix: string }) {
    this.redis = redis as Scripted;
    if (typeof this.redis.cfAppend !== 'function') {
      redis.defineCommand('cfAppend', { numberOfKeys: 4, lua: APPEND });
      redis.defineCommand('cfSince', { numberOfKeys: 1, lua: SINCE });
    }
  }

  private key(room: string): string {
    return `${this.opts.prefix}history:${room}`;
  }

  async append(message: Omit<ChatMessage, 'id'>): Promise<ChatMessage> {
    const { prefix, size, idleTtlMs } = this.opts;
    const id = await this.redis.cfAppend(
      this.key(message.room),
      `${prefix}history-bytes:${message.room}`,
      `${prefix}history-rooms`,
      `${prefix}history-floor`,
      size,
      idleTtlMs,
      message.from,
      message.text,
      message.ts,
      bound(this.opts.maxBytes),
      bound(this.opts.maxRooms),
      Date.now(),
      prefix,
      message.room,
    );
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
