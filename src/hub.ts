import type { Client } from './connection';

/** This worker's connections: who is here, and who is in which room. No I/O. */
export class Hub {
  private readonly byUser = new Map<string, Client>();
  private readonly byRoom = new Map<string, Set<Client>>();

  get size(): number {
    return this.byUser.size;
  }

  get roomCount(): number {
    return this.byRoom.size;
  }

  /** Registers a client under its username; returns the client it displaced, if any. */
  add(client: Client): Client | undefined {
    const prev = this.byUser.get(client.user);
    this.byUser.set(client.user, client);
    return prev === client ? undefined : prev;
  }

  /** Forgets a client; a newer client holding the same name is left alone. Returns true if it was the holder. */
  remove(client: Client): boolean {
    if (this.byUser.get(client.user) !== client) return false;
    this.byUser.delete(client.user);
    return true;
  }

  get(user: string): Client | undefined {
    return this.byUser.get(user);
  }

  clients(): IterableIterator<Client> {
    return this.byUser.values();
  }

  /** Adds a member; true when it is the room's first member here (subscribe then). */
  join(client: Client, room: string): boolean {
    let set = this.byRoom.get(room);
    const first = !set;
    if (!set) this.byRoom.set(room, (set = new Set()));
    set.add(client);
    client.memberOf.add(room);
    return first;
  }

  /** Removes a member; true when the room has no members left here (unsubscribe then). */
  leave(client: Client, room: string): boolean {
    const set = this.byRoom.get(room);
    client.memberOf.delete(room);
    if (!set || !set.delete(client)) return false;
    if (set.size > 0) return false;
    this.byRoom.delete(room);
    return true;
  }

  members(room: string): ReadonlySet<Client> | undefined {
    return this.byRoom.get(room);
  }

  hasRoom(room: string): boolean {
    return this.byRoom.has(room);
  }
}
