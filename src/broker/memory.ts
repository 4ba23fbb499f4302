import type { Broker, BrokerHandlers, BrokerStatus, RoomEvent, UserEvent } from './types';

/**
 * An in-process fabric. Each MemoryBroker is one worker's view of it; several brokers made
 * from one bus behave like workers joined by NATS (used by single-process mode and the tests).
 */
export class MemoryBus {
  readonly rooms = new Map<string, Set<MemoryBroker>>();
  readonly workers = new Map<string, MemoryBroker>();

  /** The broker of worker `worker` (its route for user traffic). */
  broker(worker: string): MemoryBroker {
    return new MemoryBroker(this, worker);
  }
}

export class MemoryBroker implements Broker {
  status: BrokerStatus = 'connected';
  private handlers: BrokerHandlers | null = null;

  constructor(
    private readonly bus: MemoryBus,
    readonly worker: string,
  ) {
    bus.workers.set(worker, this);
  }

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

  async sendToWorker(worker: string, user: string, event: UserEvent): Promise<boolean> {
    this.assertOpen();
    const target = this.bus.workers.get(worker);
    if (!target || target.status === 'closed') return false;
    return target.handlers?.onUserEvent(user, JSON.parse(JSON.stringify(event)) as UserEvent) ?? false;
  }

  async close(): Promise<void> {
    if (this.status === 'closed') return;
    this.status = 'closed';
    for (const room of [...this.bus.rooms.keys()]) remove(this.bus.rooms, room, this);
    if (this.bus.workers.get(this.worker) === this) this.bus.workers.delete(this.worker);
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
