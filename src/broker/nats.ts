import { ErrorCode, RequestStrategy, type NatsConnection, type Subscription } from 'nats';
import type { Logger } from '../log';
import type { Broker, BrokerHandlers, BrokerStatus, RoomEvent, UserEvent } from './types';

const enc = new TextEncoder();
const dec = new TextDecoder();
const DELIVERED = enc.encode('1');
const NOT_HERE = enc.encode('0');

/*
 * Subjects: <prefix>.room.<room> carries RoomEvents, <prefix>.user.<user> carries UserEvents as
 * requests (the holder's worker replies, so a sender learns at once when nobody holds the user:
 * NATS answers "no responders"). Room and user names are validated to [A-Za-z0-9_-], so they are
 * always exactly one subject token.
 */
export class NatsBroker implements Broker {
  private handlers: BrokerHandlers | null = null;
  private readonly rooms = new Map<string, Subscription>();
  private readonly users = new Map<string, Subscription>();
  private closing: Promise<void> | null = null;
  private state: BrokerStatus = 'connected';

  /** The connection is passed in; close() drains it. */
  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: { prefix: string; requestTimeoutMs: number; log?: Logger; onStatus?: (s: BrokerStatus) => void },
  ) {
    void this.watchStatus();
  }

  get status(): BrokerStatus {
    return this.nc.isClosed() ? 'closed' : this.state;
  }

  setHandlers(handlers: BrokerHandlers): void {
    this.handlers = handlers;
  }

  async watchRoom(room: string): Promise<void> {
    if (this.rooms.has(room)) return;
    const sub = this.nc.subscribe(`${this.opts.prefix}.room.${room}`, {
      callback: (err, msg) => {
        if (err) return this.opts.log?.error({ err, room }, 'room subscription failed');
        let event: RoomEvent;
        try {
          event = JSON.parse(dec.decode(msg.data)) as RoomEvent;
        } catch (e) {
          return this.opts.log?.warn({ err: e, room }, 'dropped an undecodable room event');
        }
        this.handlers?.onRoomEvent(room, event, msg.data);
      },
    });
    this.rooms.set(room, sub);
    try {
      // The flush round trip proves the server has the subscription (or tells us it cannot).
      await this.flush();
    } catch (err) {
      sub.unsubscribe();
      this.rooms.delete(room);
      throw err;
    }
  }

  async unwatchRoom(room: string): Promise<void> {
    this.rooms.get(room)?.unsubscribe();
    this.rooms.delete(room);
  }

  async publish(room: string, event: RoomEvent): Promise<void> {
    this.nc.publish(`${this.opts.prefix}.room.${room}`, enc.encode(JSON.stringify(event)));
  }

  async watchUser(user: string): Promise<void> {
    if (this.users.has(user)) return;
    const sub = this.nc.subscribe(`${this.opts.prefix}.user.${user}`, {
      callback: (err, msg) => {
        if (err) return this.opts.log?.error({ err, user }, 'user subscription failed');
        let delivered = false;
        try {
          delivered = this.handlers?.onUserEvent(user, JSON.parse(dec.decode(msg.data)) as UserEvent) ?? false;
        } catch (e) {
          this.opts.log?.warn({ err: e, user }, 'dropped an undecodable user event');
        }
        if (msg.reply) msg.respond(delivered ? DELIVERED : NOT_HERE);
      },
    });
    this.users.set(user, sub);
    try {
      // As for rooms: once this resolves, a direct message from any worker finds the user.
      await this.flush();
    } catch (err) {
      sub.unsubscribe();
      if (this.users.get(user) === sub) this.users.delete(user);
      throw err;
    }
  }

  async unwatchUser(user: string): Promise<void> {
    const sub = this.users.get(user);
    this.users.delete(user);
    // drain, not unsubscribe: requests already routed here still get their "not here" answer.
    await sub?.drain().catch(() => sub.unsubscribe());
  }

  /**
   * Asks every worker watching the user (two, briefly, during a session takeover) and returns
   * true on the first "delivered"; "not here" answers wait a short jitter for a better one.
   */
  async sendToUser(user: string, event: UserEvent): Promise<boolean> {
    let answered = false;
    try {
      const replies = await this.nc.requestMany(`${this.opts.prefix}.user.${user}`, enc.encode(JSON.stringify(event)), {
        strategy: RequestStrategy.JitterTimer,
        maxWait: this.opts.requestTimeoutMs,
        jitter: 50,
      });
      for await (const reply of replies) {
        answered = true;
        if (reply.data[0] === DELIVERED[0]) return true;
      }
    } catch (err) {
      if ((err as { code?: string }).code === ErrorCode.NoResponders) return false;
      throw err;
    }
    if (!answered) throw new Error(`no answer for ${user} within ${this.opts.requestTimeoutMs} ms`);
    return false;
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
      if (s.type === 'error') this.opts.log?.error({ err: s.data }, 'NATS error');
    }
    this.setState('closed');
  }

  private setState(s: BrokerStatus): void {
    if (s === this.state) return;
    this.state = s;
    this.opts.onStatus?.(s);
  }
}
