/**
 * Catch-up after a broker outage: once NATS is back, this worker's rooms get from history what
 * they missed while it was away. While the connection is down, messages are still appended to
 * history and acknowledged, but their publish never reaches NATS (nats.js discards its outbound
 * buffer at every reconnect attempt), and other workers' messages published before this one's
 * subscriptions were back are gone too. Clients that stayed connected would never see them: they
 * only resume after a reconnect of their own.
 *
 * Every stored message fanned out here passes through `fresh`, which remembers the ids of each
 * room's newest ones, and from the outage's start until a while after its catch-up every id, so a
 * message that arrives both live (published late by a worker that held it) and from history goes
 * out once. (Outside that window nothing arrives twice: NATS does not repeat a message.)
 */
import type { RoomEvent } from './broker/types';
import type { History } from './history/types';
import type { Logger } from './log';
import type { ChatMessage } from './protocol';

/** Ids remembered per room in normal operation: SLACK and a margin. */
const RECENT = 64;
/**
 * Messages of two senders reach NATS a little out of id order, so ids up to SLACK below the
 * newest one seen may still be on their way when the connection drops: the catch-up starts there.
 */
const SLACK = 32;
/** For a room with no message seen yet, what counts as sent "during the outage" starts this long before it. */
const CLOCK_SLACK_MS = 2000;
/**
 * How long after a catch-up every message is still remembered: the other workers publish what
 * they held during the outage once they are back too, a moment earlier or later.
 */
const REMEMBER_MS = 10_000;

interface RoomIds {
  /** The newest id seen (ids restart after a room's history is reset: then it follows them down). */
  newest: number;
  /** The ids of the last RECENT messages fanned out here, a ring written at `next`. */
  recent: number[];
  next: number;
}

export interface CatchUpDeps {
  history: History;
  log: Logger;
  /** The rooms this worker is subscribed to. */
  rooms: () => Iterable<string>;
  /** Fans a message out to this worker's members of `room`, as if it had come from the broker. */
  deliver: (room: string, event: RoomEvent) => void;
  /** The key of the local connection of `user`, so that a sender is not shown its own message. */
  origin: (user: string) => string;
  /** For a room with no message seen before the outage, how many of its newest messages are looked at. */
  recentLimit: number;
}

export class CatchUp {
  private readonly ids = new Map<string, RoomIds>();
  /** Where each room's catch-up starts; set while the broker is away. */
  private pending: Map<string, number | null> | null = null;
  /**
   * Every id fanned out per room since the outage began, until REMEMBER_MS after its catch-up.
   * (A room whose history is reset within that window could have a new message taken for an old one.)
   */
  private seen: Map<string, Set<number>> | null = null;
  private forgetTimer: NodeJS.Timeout | null = null;
  private lostAt = 0;

  constructor(private readonly deps: CatchUpDeps) {}

  /** Records a stored message about to be fanned out here; false when it went out already. */
  fresh(room: string, message: ChatMessage): boolean {
    const { id } = message;
    if (id === null) return true;
    if (this.seen) {
      let seen = this.seen.get(room);
      if (!seen) this.seen.set(room, (seen = new Set()));
      if (seen.has(id)) return false;
      seen.add(id);
    }
    let r = this.ids.get(room);
    if (!r) this.ids.set(room, (r = { newest: id, recent: [], next: 0 }));
    r.recent[r.next] = id;
    r.next = (r.next + 1) % RECENT;
    if (id > r.newest || id < r.newest - RECENT) r.newest = id;
    return true;
  }

  /** The worker unsubscribed from the room. */
  forget(room: string): void {
    this.ids.delete(room);
    this.pending?.delete(room);
    this.seen?.delete(room);
  }

  /** The broker connection was lost: note where every room's catch-up will start. */
  disconnected(): void {
    if (this.pending) return; // still the same outage
    this.lostAt = Date.now();
    this.pending = new Map();
    if (this.forgetTimer) clearTimeout(this.forgetTimer);
    this.forgetTimer = null;
    // The newest ids went out before the outage; the catch-up starts SLACK below them.
    if (!this.seen) this.seen = new Map([...this.ids].map(([room, r]) => [room, new Set(r.recent)]));
    for (const room of this.deps.rooms()) {
      const r = this.ids.get(room);
      this.pending.set(room, r ? Math.max(0, r.newest - SLACK) : null);
    }
  }

  /** The broker is back with this worker's subscriptions: deliver what the rooms missed. */
  async reconnected(): Promise<void> {
    const pending = this.pending;
    this.pending = null;
    if (!pending) return;
    let delivered = 0;
    let rooms = 0;
    const subscribed = new Set(this.deps.rooms());
    for (const [room, after] of pending) {
      if (!subscribed.has(room)) continue;
      try {
        const missed = await this.missed(room, after);
        let n = 0;
        for (const message of missed) {
          if (!this.seen?.get(room)?.has(message.id!)) n++;
          this.deps.deliver(room, { kind: 'message', message, origin: this.deps.origin(message.from) });
        }
        delivered += n;
        if (n) rooms++;
      } catch (err) {
        this.deps.log.warn({ err, room }, 'catch-up after the NATS outage failed; members get the rest when they resume');
      }
    }
    this.deps.log.info({ delivered, rooms, outageMs: Date.now() - this.lostAt }, 'caught up after the NATS outage');
    if (!this.pending) {
      this.forgetTimer = setTimeout(() => {
        this.forgetTimer = null;
        if (!this.pending) this.seen = null;
      }, REMEMBER_MS);
      this.forgetTimer.unref();
    }
  }

  private async missed(room: string, after: number | null): Promise<ChatMessage[]> {
    const { history, recentLimit, log } = this.deps;
    if (after === null) {
      const since = this.lostAt - CLOCK_SLACK_MS;
      return (await history.recent(room, recentLimit)).messages.filter((m) => m.id !== null && Date.parse(m.ts) >= since);
    }
    const batch = await history.since(room, after, recentLimit);
    // The room's history restarted meanwhile: its ids say nothing about what went out here.
    if (batch.reset) return [];
    if (batch.gap) log.warn({ room, gap: batch.gap }, 'catch-up after the NATS outage: older messages are no longer in history');
    return batch.messages;
  }
}
