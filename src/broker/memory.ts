import { Inbound, type InboundOptions } from './inbound';
import type { Broker, BrokerHandlers, BrokerStatus, RoomEvent, UserEvent } from './types';

const enc = new TextEncoder();

/**
 * An in-process fabric. Each MemoryBroker is one worker's view of it; several brokers made
 * from one bus behave like workers joined by NATS (used by single-process mode and the tests).
 */
export class MemoryBus {
  readonly rooms = new Map<string, Set<MemoryBroker>>();
  readonly workers = new Map<string, MemoryBroker>();

  /** The broker of worker `worker` (its route for user traffic). */
  broker(worker: string, opts?: InboundOptions): MemoryBroker {
    return new MemoryBroker(this, worker, opts);
  }

  /**
   * Raw bytes on a room, as anyone connected to a real fabric could publish them (tests of what
   * workers do with garbage). Delivered like publish().
   */
  publishRaw(room: string, payload: Uint8Array): void {
    const targets = [...(this.rooms.get(room) ?? [])];
    queueMicrotask(() => {
      for (const b of targets) b.receiveRoom(room, payload);
    });
  }

  /** Raw bytes on a worker's route, as a request; resolves with what the worker answered. */
  async sendRaw(worker: string, payload: Uint8Array): Promise<boolean> {
    const target = this.workers.get(worker);
    if (!target || target.status === 'closed') return false;
    return target.receiveUser(payload);
  }
}

export class MemoryBroker implements Broker {
  status: BrokerStatus = 'connected';
  private readonly inbound: Inbound;

  constructor(
    private readonly bus: MemoryBus,
    readonly worker: string,
    opts?: InboundOptions,
  ) {
    this.inbound = new Inbound(opts);
    bus.workers.set(worker, this);
  }

  setHandlers(handlers: BrokerHandlers): void {
    this.inbound.handlers = handlers;
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
    // Serialise as NATS would, so subscribers never share an object with the publisher, and
    // every subscriber validates what it decodes, as on NATS.
    this.bus.publishRaw(room, enc.encode(JSON.stringify(event)));
  }

  async sendToWorker(worker: string, user: string, event: UserEvent): Promise<boolean> {
    this.assertOpen();
    return this.bus.sendRaw(worker, enc.encode(JSON.stringify({ user, event })));
  }

  /** An in-process subscription cannot end on its own. */
  lostSubscriptions(): string[] {
    return [];
  }

  /** @internal the bus delivering a room's payload */
  receiveRoom(room: string, payload: Uint8Array): void {
    this.inbound.room(room, payload);
  }

  /** @internal the bus delivering a request on this worker's route */
  receiveUser(payload: Uint8Array): boolean {
    return this.inbound.user(payload);
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
