/**
 * Presence notices, batched per room. A worker gathers its own users' joins and leaves of a room
 * for `presence.noticeMs` and publishes them as one `presence` event, so N users filling a room
 * cost every member one notice per batch instead of one per user (O(N²) frames before). The first
 * change of a quiet room goes out at once, so a single join is never delayed; a user who leaves
 * and comes back within one batch (a reconnect) causes no notice at all, while one who joins and
 * leaves again is announced doing both, so that nobody's view of the room depends on the timing.
 */
import type { PresenceEvent } from './broker/types';
import type { LeaveReason } from './protocol';

type Change = { first: 'join' | 'leave'; last: 'join' | 'leave'; reason: LeaveReason };

interface RoomBatch {
  changes: Map<string, Change>;
  timer: NodeJS.Timeout;
  /** Room size as presence last reported it (approximate: it may count members about to expire). */
  members: number;
}

/** In large rooms, at least this much of a batch window per member (see arm). */
const MS_PER_MEMBER = 1;

export class PresenceNotices {
  private readonly rooms = new Map<string, RoomBatch>();
  private readonly inFlight = new Set<Promise<void>>();

  /**
   * @param publish sends one event on the room's subject and logs its own failures
   * @param opts.intervalMs how long changes of one room are gathered; 0 publishes each alone
   * @param opts.summaryAbove rooms larger than this are large: their batches last opts.summaryMs,
   *   because every notice there costs a frame per member (a room of 100,000 filling up would
   *   otherwise get a notice per worker every interval)
   */
  constructor(
    private readonly publish: (event: PresenceEvent) => Promise<void>,
    private readonly opts: { intervalMs: number; summaryAbove: number; summaryMs: number },
  ) {}

  /** `user` joined `room` here; `members` is the room's size after the join. */
  joined(room: string, user: string, members: number): void {
    this.add(room, user, 'join', 'left', members);
  }

  /** `user` left `room` (or was found expired); `members` is the room's size after, if known. */
  left(room: string, user: string, reason: LeaveReason, members?: number): void {
    this.add(room, user, 'leave', reason, members);
  }

  /** Publishes everything gathered so far (drain); resolves when it is on the broker. */
  async flush(): Promise<void> {
    for (const room of [...this.rooms.keys()]) this.emit(room, true);
    await Promise.allSettled([...this.inFlight]);
  }

  private add(room: string, user: string, op: 'join' | 'leave', reason: LeaveReason, members: number | undefined): void {
    let batch = this.rooms.get(room);
    if (!batch) {
      // A quiet room: this change goes out now, and the window for the next ones opens.
      this.send(event(room, op === 'join' ? [user] : [], op === 'leave' ? [{ user, reason }] : [], members ?? 0));
      if (this.opts.intervalMs <= 0) return;
      batch = { changes: new Map(), members: members ?? 0, timer: this.arm(room, members ?? 0) };
      this.rooms.set(room, batch);
      return;
    }
    if (members !== undefined) batch.members = members;
    const prev = batch.changes.get(user);
    batch.changes.set(user, { first: prev?.first ?? op, last: op, reason });
  }

  private arm(room: string, members: number): NodeJS.Timeout {
    // A summary costs one frame per member, from every worker with changes: beyond a few thousand
    // members the window grows with the room (MS_PER_MEMBER), so each worker sends a huge room
    // at most about 1,000 notice frames a second (a room of 40,000 filling up on 7 workers spent
    // the whole machine on summaries with a fixed 5 s window).
    const ms = members > this.opts.summaryAbove ? Math.max(this.opts.intervalMs, this.opts.summaryMs, members * MS_PER_MEMBER) : this.opts.intervalMs;
    const t = setTimeout(() => this.emit(room, false), ms);
    t.unref();
    return t;
  }

  /** Publishes a room's gathered changes; keeps the window open while the room stays busy. */
  private emit(room: string, final: boolean): void {
    const batch = this.rooms.get(room);
    if (!batch) return;
    clearTimeout(batch.timer);
    const joined: string[] = [];
    const left: { user: string; reason: LeaveReason }[] = [];
    for (const [user, c] of batch.changes) {
      // Left and came back within the batch: the members' view of the room is already right.
      if (c.first === 'leave' && c.last === 'join') continue;
      // Clients apply `joined` before `left`, so a join and a leave in one batch leave them absent.
      if (c.first === 'join' || c.last === 'join') joined.push(user);
      if (c.last === 'leave') left.push({ user, reason: c.reason });
    }
    if (joined.length + left.length > 0) this.send(event(room, joined, left, batch.members));
    if (final || batch.changes.size === 0) {
      this.rooms.delete(room);
      return;
    }
    batch.changes = new Map();
    batch.timer = this.arm(room, batch.members);
  }

  private send(e: PresenceEvent): void {
    // The publish callback logs its own failures. A notice lost while the broker is down is not
    // sent again: presence itself (what `users` lists) stays right, only the line is missed.
    const p: Promise<void> = this.publish(e)
      .catch(() => undefined)
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }
}

function event(room: string, joined: string[], left: { user: string; reason: LeaveReason }[], members: number): PresenceEvent {
  return { kind: 'presence', room, joined, left, members, ts: new Date().toISOString() };
}
