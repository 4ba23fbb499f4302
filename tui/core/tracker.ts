/**
 * Per-room id bookkeeping for resume: the highest contiguous id seen (every id up to it was
 * received, or declared lost by a gap), plus the ids seen above it. Ids from two senders on
 * different workers can arrive slightly out of order, so "highest seen" would skip messages.
 */
export class RoomTracker {
  private contiguous = new Map<string, number>();
  private above = new Map<string, Set<number>>();

  /** The id to resume the room after. */
  resumeAfter(room: string): number | undefined {
    return this.contiguous.get(room);
  }

  /** Records an id; returns false when it was seen already (a duplicate to drop). */
  see(room: string, id: number): boolean {
    const c = this.contiguous.get(room) ?? 0;
    if (id <= c) return false;
    let set = this.above.get(room);
    if (!set) this.above.set(room, (set = new Set()));
    if (set.has(id)) return false;
    set.add(id);
    this.advance(room);
    return true;
  }

  /** Ids the server says are gone for good count as handled. */
  skip(room: string, to: number): void {
    if ((this.contiguous.get(room) ?? 0) < to) this.contiguous.set(room, to);
    this.advance(room);
  }

  /** A join without resume: everything before the first message shown counts as handled. */
  baseline(room: string, before: number): void {
    this.contiguous.set(room, Math.max(0, before));
    this.above.delete(room);
  }

  /** The room's history restarted: forget it. */
  reset(room: string): void {
    this.contiguous.set(room, 0);
    this.above.delete(room);
  }

  private advance(room: string): void {
    let c = this.contiguous.get(room) ?? 0;
    const set = this.above.get(room);
    if (set) {
      for (const id of set) if (id <= c) set.delete(id);
      while (set.delete(c + 1)) c++;
    }
    this.contiguous.set(room, c);
  }
}
