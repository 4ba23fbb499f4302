import type { ClaimResult, Owner, Presence, PresenceEntry, RoomMember } from './types';

/**
 * Presence in one process, with the same expiry semantics as the Redis implementation.
 * Workers in one process share one instance.
 */
export class MemoryPresence implements Presence {
  private readonly claims = new Map<string, { owner: Owner; expires: number }>();
  private readonly online = new Map<string, number>();
  /** room -> user -> expiry */
  private readonly roomMembers = new Map<string, Map<string, number>>();

  constructor(private readonly opts: { ttlMs: number; now?: () => number }) {}

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  async claim(user: string, owner: Owner): Promise<ClaimResult> {
    const now = this.now();
    const cur = this.claims.get(user);
    const held = cur && cur.expires > now ? cur.owner : null;
    if (held && (owner.session === '' || held.session !== owner.session)) return { ok: false, holder: held };
    this.claims.set(user, { owner, expires: now + this.opts.ttlMs });
    this.online.set(user, now + this.opts.ttlMs);
    return { ok: true, replaced: held };
  }

  async locate(user: string): Promise<Owner | null> {
    const cur = this.claims.get(user);
    return cur && cur.expires > this.now() ? cur.owner : null;
  }

  async release(user: string, owner: Owner): Promise<void> {
    const cur = this.claims.get(user);
    if (!cur || !sameOwner(cur.owner, owner)) return;
    this.claims.delete(user);
    this.online.delete(user);
    for (const [room, users] of this.roomMembers) {
      users.delete(user);
      if (users.size === 0) this.roomMembers.delete(room);
    }
  }

  async join(user: string, room: string): Promise<{ added: boolean; members: number }> {
    const now = this.now();
    let users = this.roomMembers.get(room);
    if (!users) this.roomMembers.set(room, (users = new Map()));
    const before = users.get(user);
    users.set(user, now + this.opts.ttlMs);
    return { added: before === undefined || before <= now, members: this.live(users, now) };
  }

  async leave(user: string, room: string): Promise<{ removed: boolean; members: number }> {
    const users = this.roomMembers.get(room);
    const removed = users?.delete(user) ?? false;
    if (users?.size === 0) this.roomMembers.delete(room);
    return { removed, members: users ? this.live(users, this.now()) : 0 };
  }

  private live(users: Map<string, number>, now: number): number {
    let n = 0;
    for (const exp of users.values()) if (exp > now) n++;
    return n;
  }

  async heartbeat(entries: readonly PresenceEntry[]): Promise<string[]> {
    const now = this.now();
    const lost: string[] = [];
    for (const e of entries) {
      const cur = this.claims.get(e.user);
      if (cur && cur.expires > now && !sameOwner(cur.owner, e.owner)) {
        lost.push(e.user);
        continue;
      }
      const expires = now + this.opts.ttlMs;
      this.claims.set(e.user, { owner: e.owner, expires });
      this.online.set(e.user, expires);
      await this.join(e.user, e.room);
    }
    return lost;
  }

  async reap(): Promise<RoomMember[]> {
    const now = this.now();
    const expired: RoomMember[] = [];
    for (const [room, users] of this.roomMembers) {
      for (const [user, expires] of users) {
        if (expires <= now) {
          users.delete(user);
          expired.push({ room, user });
        }
      }
      if (users.size === 0) this.roomMembers.delete(room);
    }
    for (const [user, expires] of this.online) if (expires <= now) this.online.delete(user);
    return expired;
  }

  async users(room?: string): Promise<string[]> {
    const now = this.now();
    const source = room === undefined ? this.online : (this.roomMembers.get(room) ?? new Map<string, number>());
    return [...source].filter(([, exp]) => exp > now).map(([u]) => u).sort();
  }

  async members(room: string, limit: number): Promise<{ users: string[]; count: number }> {
    const all = await this.users(room);
    return { users: all.slice(0, limit), count: all.length };
  }

  async rooms(): Promise<{ name: string; users: number }[]> {
    const now = this.now();
    const out: { name: string; users: number }[] = [];
    for (const [name, users] of this.roomMembers) {
      const n = [...users.values()].filter((exp) => exp > now).length;
      if (n > 0) out.push({ name, users: n });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async close(): Promise<void> {}
}

export function sameOwner(a: Owner, b: Owner): boolean {
  return a.worker === b.worker && a.conn === b.conn && a.session === b.session;
}
