import type { Redis } from 'ioredis';
import type { ClaimResult, Owner, Presence, PresenceEntry, RoomMember } from './types';

/*
 * Keys, all under the configured prefix P (a single Redis, not Redis Cluster: the scripts
 * build key names from the prefix):
 *   P claim:<user>   STRING  owner JSON, PX ttl          the atomic username claim
 *   P online         ZSET    user -> expiry ms           who is online
 *   P room:<room>    ZSET    user -> expiry ms           who is in a room
 *   P rooms          ZSET    room -> latest expiry ms    which rooms may have members
 *   P members        ZSET    "<room> <user>" -> expiry   every membership, for the reaper
 *   P user-rooms:<u> SET     rooms of one user, PX ttl   so a release touches only that user's rooms
 * Readers filter by score, so an expired entry is invisible at once; the reaper deletes it
 * later and reports it once, which is how a crashed worker's users get their leave events.
 */

const CLAIM = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local held = cjson.decode(cur)
  if ARGV[2] == '' or held.session ~= ARGV[2] then return {0, cur} end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
return {1, cur or ''}
`;

// KEYS[1] claim, KEYS[2] online, KEYS[3] user-rooms; ARGV[1] owner JSON, ARGV[2] user, ARGV[3] prefix.
// Does nothing while another owner holds the name; a lapsed claim still gets its entries removed.
const RELEASE = `
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
if cur then redis.call('DEL', KEYS[1]) end
redis.call('ZREM', KEYS[2], ARGV[2])
for _, room in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  redis.call('ZREM', ARGV[3] .. 'members', room .. ' ' .. ARGV[2])
  redis.call('ZREM', ARGV[3] .. 'room:' .. room, ARGV[2])
end
redis.call('DEL', KEYS[3])
return 1
`;

// KEYS[1] room, KEYS[2] members, KEYS[3] rooms, KEYS[4] user-rooms; ARGV[1] user, ARGV[2] room,
// ARGV[3] now, ARGV[4] ttl. Returns {1 if the user was not a live member before, live members now}.
// A script rather than a MULTI: one command instead of nine for ioredis to build and parse, and
// unlike a MULTI it is auto-pipelined with the other connects of the same tick (one socket write).
const JOIN = `
local now, ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
local exp = now + ttl
local before = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], exp, ARGV[1])
redis.call('ZADD', KEYS[2], exp, ARGV[2] .. ' ' .. ARGV[1])
redis.call('ZADD', KEYS[3], 'GT', exp, ARGV[2])
redis.call('SADD', KEYS[4], ARGV[2])
redis.call('PEXPIRE', KEYS[4], ttl)
local added = 0
if not before or tonumber(before) <= now then added = 1 end
return {added, redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')}
`;

// KEYS as JOIN; ARGV[1] user, ARGV[2] room, ARGV[3] now. Returns {1 if removed, live members left}.
const LEAVE = `
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[2] .. ' ' .. ARGV[1])
redis.call('SREM', KEYS[4], ARGV[2])
return {removed, redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[3], '+inf')}
`;

// KEYS[1] room; ARGV[1] now, ARGV[2] limit. Returns {live members, then up to limit of their names}.
const MEMBERS = `
local min = '(' .. ARGV[1]
local out = {redis.call('ZCOUNT', KEYS[1], min, '+inf')}
for _, u in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], min, '+inf', 'LIMIT', 0, tonumber(ARGV[2]))) do out[#out + 1] = u end
return out
`;

// ARGV: prefix, now, ttl, then (user, room, owner JSON) triples. Returns users whose claim another owner holds.
// Per user it reads and extends the claim and the user's room set; the sorted sets get one ZADD
// each for the whole call (a ZADD per user per set was most of the script's time).
const HEARTBEAT = `
local p, now, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local exp = now + ttl
local lost, online, members, byRoom = {}, {}, {}, {}
for i = 4, #ARGV, 3 do
  local user, room, owner = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local ck = p .. 'claim:' .. user
  local cur = redis.call('GET', ck)
  if cur and cur ~= owner then
    lost[#lost + 1] = user
  else
    if cur then redis.call('PEXPIRE', ck, ttl) else redis.call('SET', ck, owner, 'PX', ttl) end
    online[#online + 1] = exp
    online[#online + 1] = user
    members[#members + 1] = exp
    members[#members + 1] = room .. ' ' .. user
    local r = byRoom[room]
    if not r then r = {}; byRoom[room] = r end
    r[#r + 1] = exp
    r[#r + 1] = user
    local uk = p .. 'user-rooms:' .. user
    -- The set exists unless Redis lost it (a restart): only then is it written again.
    if redis.call('PEXPIRE', uk, ttl) == 0 then
      redis.call('SADD', uk, room)
      redis.call('PEXPIRE', uk, ttl)
    end
  end
end
if #online > 0 then
  redis.call('ZADD', p .. 'online', unpack(online))
  redis.call('ZADD', p .. 'members', unpack(members))
  for room, r in pairs(byRoom) do
    redis.call('ZADD', p .. 'room:' .. room, unpack(r))
    redis.call('ZADD', p .. 'rooms', 'GT', exp, room)
  end
end
return lost
`;

// ARGV: prefix, now, batch size. Removes expired memberships and returns them as "<room> <user>".
const REAP = `
local p, now = ARGV[1], tonumber(ARGV[2])
local expired = redis.call('ZRANGEBYSCORE', p .. 'members', '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, m in ipairs(expired) do
  redis.call('ZREM', p .. 'members', m)
  local sp = string.find(m, ' ', 1, true)
  local room, user = string.sub(m, 1, sp - 1), string.sub(m, sp + 1)
  local rk = p .. 'room:' .. room
  local score = redis.call('ZSCORE', rk, user)
  if score and tonumber(score) <= now then
    redis.call('ZREM', rk, user)
    redis.call('SREM', p .. 'user-rooms:' .. user, room)
  end
  if redis.call('ZCARD', rk) == 0 then redis.call('ZREM', p .. 'rooms', room) end
end
redis.call('ZREMRANGEBYSCORE', p .. 'online', '-inf', now)
redis.call('ZREMRANGEBYSCORE', p .. 'rooms', '-inf', now)
return expired
`;

// ARGV: prefix, now. Returns a flat list room, count, room, count ... of rooms with live members.
const ROOMS = `
local p, now = ARGV[1], ARGV[2]
local out = {}
for _, room in ipairs(redis.call('ZRANGEBYSCORE', p .. 'rooms', '(' .. now, '+inf')) do
  local n = redis.call('ZCOUNT', p .. 'room:' .. room, '(' .. now, '+inf')
  if n > 0 then out[#out + 1] = room; out[#out + 1] = n end
end
return out
`;

/** Users per heartbeat script call: about 2.5 ms of Redis time each on the development machine. */
const HEARTBEAT_CHUNK = 200;

type Scripted = Redis & {
  cfClaim(claimKey: string, onlineKey: string, owner: string, session: string, ttl: number, expiry: number, user: string): Promise<[number, string]>;
  cfRelease(claimKey: string, onlineKey: string, membersKey: string, owner: string, user: string, prefix: string): Promise<number>;
  cfJoin(roomKey: string, membersKey: string, roomsKey: string, userRoomsKey: string, user: string, room: string, now: number, ttl: number): Promise<[number, number]>;
  cfLeave(roomKey: string, membersKey: string, roomsKey: string, userRoomsKey: string, user: string, room: string, now: number): Promise<[number, number]>;
  cfMembers(roomKey: string, now: number, limit: number): Promise<[number, ...string[]]>;
  cfHeartbeat(...args: (string | number)[]): Promise<string[]>;
  cfReap(prefix: string, now: number, batch: number): Promise<string[]>;
  cfRooms(prefix: string, now: number): Promise<(string | number)[]>;
};

/** Defines the Lua scripts on a client once; ioredis runs them with EVALSHA. */
function withScripts(redis: Redis): Scripted {
  const r = redis as Scripted;
  if (typeof r.cfClaim !== 'function') {
    redis.defineCommand('cfClaim', { numberOfKeys: 2, lua: CLAIM });
    redis.defineCommand('cfRelease', { numberOfKeys: 3, lua: RELEASE });
    redis.defineCommand('cfJoin', { numberOfKeys: 4, lua: JOIN });
    redis.defineCommand('cfLeave', { numberOfKeys: 4, lua: LEAVE });
    redis.defineCommand('cfMembers', { numberOfKeys: 1, lua: MEMBERS });
    redis.defineCommand('cfHeartbeat', { numberOfKeys: 0, lua: HEARTBEAT });
    redis.defineCommand('cfReap', { numberOfKeys: 0, lua: REAP });
    redis.defineCommand('cfRooms', { numberOfKeys: 0, lua: ROOMS });
  }
  return r;
}

/** Owners are compared as strings in Lua, so they are always written with one key order. */
function ownerJson(o: Owner): string {
  return JSON.stringify({ worker: o.worker, conn: o.conn, session: o.session });
}

export class RedisPresence implements Presence {
  private readonly redis: Scripted;
  private readonly p: string;

  /** The client is passed in and stays the caller's to close. */
  constructor(redis: Redis, private readonly opts: { prefix: string; ttlMs: number; reapBatch?: number }) {
    this.redis = withScripts(redis);
    this.p = opts.prefix;
  }

  async claim(user: string, owner: Owner): Promise<ClaimResult> {
    const now = Date.now();
    const [ok, prev] = await this.redis.cfClaim(
      `${this.p}claim:${user}`, `${this.p}online`, ownerJson(owner), owner.session, this.opts.ttlMs, now + this.opts.ttlMs, user,
    );
    const previous = prev ? (JSON.parse(prev) as Owner) : null;
    return ok === 1 ? { ok: true, replaced: previous } : { ok: false, holder: previous };
  }

  async locate(user: string): Promise<Owner | null> {
    const cur = await this.redis.get(`${this.p}claim:${user}`);
    return cur ? (JSON.parse(cur) as Owner) : null;
  }

  async release(user: string, owner: Owner): Promise<void> {
    await this.redis.cfRelease(`${this.p}claim:${user}`, `${this.p}online`, `${this.p}user-rooms:${user}`, ownerJson(owner), user, this.p);
  }

  async join(user: string, room: string): Promise<{ added: boolean; members: number }> {
    const [added, members] = await this.redis.cfJoin(...this.roomKeys(user, room), user, room, Date.now(), this.opts.ttlMs);
    return { added: added === 1, members: Number(members) };
  }

  async leave(user: string, room: string): Promise<{ removed: boolean; members: number }> {
    const [removed, members] = await this.redis.cfLeave(...this.roomKeys(user, room), user, room, Date.now());
    return { removed: removed === 1, members: Number(members) };
  }

  /** The keys a membership touches, in the order JOIN and LEAVE take them. */
  private roomKeys(user: string, room: string): [string, string, string, string] {
    return [`${this.p}room:${room}`, `${this.p}members`, `${this.p}rooms`, `${this.p}user-rooms:${user}`];
  }

  /**
   * One script call per HEARTBEAT_CHUNK users, one after the other: Redis runs a script to the
   * end before anything else, and a worker's 15,000 users in one call held every other command
   * (a chat message's history append, a claim) for about 200 ms here.
   */
  async heartbeat(entries: readonly PresenceEntry[]): Promise<string[]> {
    const lost: string[] = [];
    for (let i = 0; i < entries.length; i += HEARTBEAT_CHUNK) {
      const args: (string | number)[] = [this.p, Date.now(), this.opts.ttlMs];
      for (const e of entries.slice(i, i + HEARTBEAT_CHUNK)) args.push(e.user, e.room, ownerJson(e.owner));
      lost.push(...(await this.redis.cfHeartbeat(...args)));
    }
    return lost;
  }

  async reap(): Promise<RoomMember[]> {
    const expired = await this.redis.cfReap(this.p, Date.now(), this.opts.reapBatch ?? 1000);
    return expired.map((m) => {
      const sp = m.indexOf(' ');
      return { room: m.slice(0, sp), user: m.slice(sp + 1) };
    });
  }

  async users(room?: string): Promise<string[]> {
    const key = room === undefined ? `${this.p}online` : `${this.p}room:${room}`;
    const users = await this.redis.zrangebyscore(key, `(${Date.now()}`, '+inf');
    return users.sort();
  }

  async members(room: string, limit: number): Promise<{ users: string[]; count: number }> {
    const [count, ...users] = await this.redis.cfMembers(`${this.p}room:${room}`, Date.now(), limit);
    return { users: users.sort(), count: Number(count) };
  }

  async rooms(): Promise<{ name: string; users: number }[]> {
    const flat = await this.redis.cfRooms(this.p, Date.now());
    const out: { name: string; users: number }[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ name: String(flat[i]), users: Number(flat[i + 1]) });
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async close(): Promise<void> {}
}
