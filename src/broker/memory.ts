import type { Broker, BrokerHandlers, BrokerStatus, RoomEvent, UserEvent } from './types';

/**
 * An in-process fabric. Each MemoryBroker is one worker's view of it; several brokers made
 * from one bus behave like workers joined by NATS (used by single-process mode and the tests).
 */
export class MemoryBus {
  readonly rooms = new Map<string, Set<MemoryBroker>>();
  readonly users = new Map<string, Set<MemoryBroker>>();

  broker(): MemoryBroker {
    return new MemoryBroker(this);
  }
}

export class MemoryBroker implements Broker {
  status: BrokerStatus = 'connected';
  private handlers: BrokerHandlers | null = null;

  constructor(private readonly bus: MemoryBus) {}

  setHandlers(handlers: BrokerHandlers): void {
    this.handlers = handlers;
  }

  async watchRoom(room: string): Promise<void> {
    this.assertOpen();
    add(this.bus.rooms, room, this);
  }

  async unwatchRoom(room: string): Promise<void> {
    remove(this.bus.rooms, room, this);
  }

  async publish(room: string, event: RoomEvent): Promise<void> {
    this.assertOpen();
    // Serialise as NATS would, so subscribers never share an object with the publisher.
    const payload = new TextEncoder().encode(JSON.stringify(event));
    const targets = [...(this.bus.rooms.get(room) ?? [])];
    // Delivery is asynchronous, as on a real fabric, but in publish order.
    queueMicrotask(() => {
      for (const b of targets) b.handlers?.onRoomEvent(room, JSON.parse(new TextDecoder().decode(payload)), payload);
    });
  }

  async watchUser(user: string): Promise<void> {
    this.assertOpen();
    add(this.bus.users, user, this);
  }

  async unwatchUser(user: string): Promise<void> {
    remove(this.bus.users, user, this);
  }

  async sendToUser(user: string, event: UserEvent): Promise<boolean> {
    this.assertOpen();
    const copy = JSON.parse(JSON.stringify(event)) as UserEvent;
    let delivered = false;
    for (const b of [...(this.bus.users.get(user) ?? [])]) {
      if (b.handlers?.onUserEvent(user, copy)) delivered = true;
    }
    return delivered;
  }

  async close(): Promise<void> {
    if (this.status === 'closed') return;
    this.status = 'closed';
    for (const room of [...this.bus.rooms.keys()]) remove(this.bus.rooms, room, this);
    for (const user of [...this.bus.users.keys()]) remove(this.bus.users, user, this);
  }

  private assertOpen(): void {
    if (this.status === 'closed') throw new Error('broker is closed');
  }
}

function add<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(value);
}

function remove<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}
