/** Who holds a username claim: a worker, a connection on it, and the client's session token hash. */
export interface Owner {
  worker: string;
  conn: string;
  /** sha256 of the client's session token; empty when the client gave none. */
  session: string;
}

export type ClaimResult =
  | { ok: true; replaced: Owner | null }
  | { ok: false; holder: Owner | null };

/** A user's presence as its worker refreshes it on each heartbeat. */
export interface PresenceEntry {
  user: string;
  room: string;
  owner: Owner;
}

export interface RoomMember {
  room: string;
  user: string;
}

/**
 * Cluster-wide presence: who is online, who is in which room. Every entry carries an expiry
 * that the owning worker's heartbeat pushes forward, so a dead worker's users expire on their own.
 */
export interface Presence {
  /**
   * Claims a username atomically across the cluster. A claim held under the same non-empty
   * session token is taken over (the reconnect case) and the previous owner is returned.
   */
  claim(user: string, owner: Owner): Promise<ClaimResult>;
  /** Who holds the user's claim (the worker to send their direct traffic to), or null. */
  locate(user: string): Promise<Owner | null>;
  /** Drops the user's claim (only if `owner` still holds it), online entry and memberships. */
  release(user: string, owner: Owner): Promise<void>;
  /**
   * Adds a membership. `added` is false when the user was already a live member (a reconnect
   * resuming its place: nobody needs a join notice); `members` is the room's live size after.
   */
  join(user: string, room: string): Promise<{ added: boolean; members: number }>;
  /** Removes a membership; `members` is the room's live size after. */
  leave(user: string, room: string): Promise<{ removed: boolean; members: number }>;
  /**
   * Refreshes every entry's expiry in one round trip, re-creating entries that vanished
   * (a Redis restart). Returns the users whose claim another owner now holds.
   */
  heartbeat(entries: readonly PresenceEntry[]): Promise<string[]>;
  /** Removes expired memberships and returns them; each expired member is returned exactly once cluster-wide. */
  reap(): Promise<RoomMember[]>;
  /** Users online (sorted), or in one room. */
  users(room?: string): Promise<string[]>;
  /** Up to `limit` live members of a room (sorted), and how many there are in all. */
  members(room: string, limit: number): Promise<{ users: string[]; count: number }>;
  /** Rooms with at least one live member, with member counts, sorted by name. */
  rooms(): Promise<{ name: string; users: number }[]>;
  close(): Promise<void>;
}
