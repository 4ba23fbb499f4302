import { ErrorCode, type NatsConnection, type Subscription } from 'nats';
import type { Logger } from '../log';
import { Inbound, type InboundOptions } from './inbound';
import type { Broker, BrokerHandlers, BrokerStatus, RoomEvent, UserEvent } from './types';

const enc = new TextEncoder();
const DELIVERED = enc.encode('1');
const NOT_HERE = enc.encode('0');
/** Room events held while NATS is away, at most (the oldest go first). */
const MAX_HELD = 10_000;

/** A worker id as one subject token: ids may hold dots (host names), base64url never does. */
export function routeToken(worker: string): string {
  return Buffer.from(worker).toString('base64url');
}

/*
 * Subjects: <prefix>.room.<room> carries RoomEvents; <prefix>.worker.<id> is one worker's route:
 * UserEvents for users it holds arrive there as requests, and it answers whether the user was
 * there (NATS answers "no responders" when the worker is gone). Room names are validated to
 * [A-Za-z0-9_-] and worker ids are base64url, so each is exactly one subject token.
 */
export class NatsBroker implements Broker {
  private readonly inbound: Inbound;
  private readonly rooms = new Map<string, Subscription>();
  private readonly route: Subscription;
  /** Watched rooms whose subscription ended without unwatchRoom, and "route" if the route did. */
  private readonly lost = new Set<string>();
  private closing: Promise<void> | null = null;
  private state: BrokerStatus = 'connected';
  /**
   * Room events published while NATS is away: nats.js discards what it buffered at every
   * reconnect attempt, so they are kept here and published once it is back.
   */
  private held: { subject: string; data: Uint8Array }[] = [];
  private heldDropped = 0;

  /** The connection is passed in; close() drains it. */
  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: {
      prefix: string;
      worker: string;
      requestTimeoutMs: number;
      log?: Logger;
      onStatus?: (s: BrokerStatus) => void;
      /** Validation limits and the drop counter of what arrives (broker/inbound.ts). */
      inbound?: Omit<InboundOptions, 'log'>;
    },
  ) {
    this.inbound = new Inbound({ ...opts.inbound, log: opts.log });
    this.route = nc.subscribe(this.routeSubject(opts.worker), {
      callback: (err, msg) => {
        // Nothing may throw out of a subscription callback: it would end the reader loop of the
        // whole connection (every room, every worker route) without closing it.
        try {
          if (err) return this.opts.log?.error({ err }, 'worker route subscription failed');
          const delivered = this.inbound.user(msg.data);
          if (msg.reply) msg.respond(delivered ? DELIVERED : NOT_HERE);
        } catch (e) {
          this.opts.log?.warn({ err: e }, 'could not answer on the worker route');
        }
      },
    });
    this.onEnd(this.route, 'route', () => true);
    void this.watchStatus();
  }

  /** Resolves once the server has this worker's route (so user traffic can find it). */
  ready(): Promise<void> {
    return this.flush();
  }

  private routeSubject(worker: string): string {
    return `${this.opts.prefix}.worker.${routeToken(worker)}`;
  }

  get status(): BrokerStatus {
    return this.nc.isClosed() ? 'closed' : this.state;
  }

  setHandlers(handlers: BrokerHandlers): void {
    this.inbound.handlers = handlers;
  }

  async watchRoom(room: string): Promise<void> {
    if (this.rooms.has(room)) return;
    const sub = this.nc.subscribe(`${this.opts.prefix}.room.${room}`, {
      callback: (err, msg) => {
        try {
          if (err) return this.opts.log?.error({ err, room }, 'room subscription failed');
          this.inbound.room(room, msg.data);
        } catch (e) {
          this.opts.log?.warn({ err: e, room }, 'room event dropped');
        }
      },
    });
    this.rooms.set(room, sub);
    this.onEnd(sub, room, () => this.rooms.get(room) === sub);
    try {
      // The flush round trip proves the server has the subscription (or tells us it cannot).
      await this.flush();
    } catch (err) {
      sub.unsubscribe();
      this.rooms.delete(room);
      throw err;
    }
    this.lost.delete(room);
  }

  async unwatchRoom(room: string): Promise<void> {
    // Deleted first, so that the end of this subscription reads as asked for.
    const sub = this.rooms.get(room);
    this.rooms.delete(room);
    this.lost.delete(room);
    sub?.unsubscribe();
  }

  lostSubscriptions(): string[] {
    return [...this.lost];
  }

  /**
   * Watches for a subscription ending while it is still wanted (`wanted`): the server withdrew a
   * permission, say. Its events stop for good, so the worker must stop calling itself ready.
   */
  private onEnd(sub: Subscription, name: string, wanted: () => boolean): void {
    void sub.closed.then(() => {
      if (this.closing || this.nc.isClosed() || !wanted()) return;
      if (name !== 'route') this.rooms.delete(name);
      this.lost.add(name);
      this.opts.log?.error({ subscription: name, subject: sub.getSubject() }, 'a NATS subscription ended unexpectedly; this worker is not ready');
    });
  }

  async publish(room: string, event: RoomEvent): Promise<void> {
    const subject = `${this.opts.prefix}.room.${room}`;
    const data = enc.encode(JSON.stringify(event));
    if (this.state !== 'reconnecting') return this.nc.publish(subject, data);
    if (this.held.push({ subject, data }) > MAX_HELD) {
      this.held.shift();
      this.heldDropped++;
    }
  }

  async sendToWorker(worker: string, user: string, event: UserEvent): Promise<boolean> {
    try {
      const reply = await this.nc.request(this.routeSubject(worker), enc.encode(JSON.stringify({ user, event })), { timeout: this.opts.requestTimeoutMs });
      return reply.data[0] === DELIVERED[0];
    } catch (err) {
      // The worker is gone (crashed, or drained) and nobody else listens on its route.
      if ((err as { code?: string }).code === ErrorCode.NoResponders) return false;
      throw err;
    }
  }

  close(): Promise<void> {
    // drain(): stop new work, let in-flight messages reach their handlers, then close.
    this.closing ??= this.nc.isClosed()
      ? Promise.resolve()
      : this.nc.drain().catch((err) => this.opts.log?.warn({ err }, 'NATS drain failed'));
    return this.closing;
  }

  /** A flush bounded in time: while NATS is away (or draining) it would otherwise wait forever. */
  private async flush(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.nc.flush(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('NATS flush timed out')), this.opts.requestTimeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnecting') this.setState('reconnecting');
      else if (s.type === 'reconnect') this.setState('connected');
      if (s.type === 'disconnect') this.opts.log?.warn({ server: s.data }, 'NATS disconnected; reconnecting');
      if (s.type === 'reconnect') this.opts.log?.info({ server: s.data }, 'NATS reconnected');
      if (s.type === 'disconnect') this.inbound.handlers?.onDisconnected?.();
      if (s.type === 'reconnect') this.resumed();
      if (s.type === 'error') this.opts.log?.error({ err: s.data }, 'NATS error');
    }
    this.setState('closed');
  }

  /** Publishes what was held while NATS was away; tells the handlers once the server has the subscriptions again. */
  private resumed(): void {
    const held = this.held.splice(0);
    for (const h of held) this.nc.publish(h.subject, h.data);
    if (held.length || this.heldDropped) {
      this.opts.log?.info({ published: held.length, dropped: this.heldDropped }, 'published the room events held during the NATS outage');
    }
    this.heldDropped = 0;
    // nats.js has re-sent the subscriptions; the flush's round trip proves the server has them.
    this.flush().then(
      () => this.inbound.handlers?.onReconnected?.(),
      (err) => this.opts.log?.warn({ err }, 'NATS flush after the reconnect failed; the catch-up waits for the next reconnect'),
    );
  }

  private setState(s: BrokerStatus): void {
    if (s === this.state) return;
    this.state = s;
    this.opts.onStatus?.(s);
  }
}
