import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WebSocket } from 'ws';
import type { Broker, RoomEvent, UserEvent } from './broker/types';
import { CatchUp } from './catch-up';
import { handleRequest } from './commands';
import type { ConfigShape } from './config';
import { Client, messageKey, type ClientHooks } from './connection';
import { historyFrame } from './history-frame';
import type { History } from './history/types';
import { Hub } from './hub';
import type { Logger } from './log';
import type { Metrics } from './metrics';
import { PresenceNotices } from './notices';
import { currentEvent, roomFrames } from './room-frames';
import type { Owner, Presence } from './presence/types';
import { StallGuard } from './stall';
import {
  CloseCode,
  DEFAULT_ROOM,
  encode,
  ErrorCode,
  isNoticeSender,
  joinedManyText,
  legacyChat,
  legacySystem,
  ProtocolError,
  SUBPROTOCOL_V1,
  type Dialect,
  type HistoryBatch,
  type Ref,
} from './protocol';

const CLAIM_RETRIES = 3;
const CLAIM_RETRY_MS = 100;
const CLAIM_LOST_GRACE_MS = 1000;
/** The cap of the Redis reconnect backoff (fabric.ts): how far apart the workers see Redis return. */
const REDIS_RETRY_CAP_MS = 2000;
/** Clients pinged before yielding to the event loop, so a ping round never stalls chat. */
const PING_CHUNK = 500;

export interface NodeDeps {
  broker: Broker;
  presence: Presence;
  history: History;
  config: ConfigShape;
  log: Logger;
  metrics: Metrics;
}

/** What a client asked for in its connection URL. */
export interface ConnectParams {
  user: string;
  dialect: Dialect;
  /** The client's session token (extended dialect), or undefined. */
  session?: string;
  room?: string;
  after?: number;
  /** When the client's token expires (ms since the epoch; auth.mode jwt), or undefined. */
  expiresAt?: number;
}

/**
 * One worker's chat node: it owns the hub and wires it to the broker, presence and history.
 * Every chat message takes one path: validate (connection), append (history), publish (broker),
 * and fan-out from the broker handler on every worker, the sender's included.
 */
export class ChatNode {
  readonly hub = new Hub();
  readonly worker: string;
  readonly shard: string;
  draining = false;
  /** Accepted sockets, including those still claiming their name (the connection limit counts these). */
  connectionCount = 0;
  private readonly roomWatches = new Map<string, Promise<void>>();
  private readonly lingering = new Map<string, NodeJS.Timeout>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly pending = new Set<Promise<unknown>>();
  private readonly notices: PresenceNotices;
  private readonly catchUp: CatchUp;
  private readonly stall: StallGuard;
  /** No reaping before this time: after a Redis outage every worker first restores its users. */
  private reapAfter = 0;
  /** Shared by every client (not two closures per connection). */
  private readonly clientHooks: ClientHooks = {
    onRequest: (c, req) => {
      const wait = this.stall.gate();
      return wait ? wait.then(() => this.runRequest(c, req)) : this.runRequest(c, req);
    },
    onGone: (c, code) => void this.track(this.onGone(c, code)),
  };

  constructor(readonly deps: NodeDeps) {
    this.worker = deps.config.worker.id;
    this.shard = deps.config.worker.shard;
    this.notices = new PresenceNotices(
      (event) => this.publish(event.room, event).catch((err) => deps.log.warn({ err, room: event.room }, 'could not announce presence changes')),
      { intervalMs: deps.config.presence.noticeMs, summaryAbove: deps.config.presence.summaryAbove, summaryMs: deps.config.presence.summaryMs },
    );
    this.catchUp = new CatchUp({
      history: deps.history,
      log: deps.log,
      rooms: () => this.roomWatches.keys(),
      deliver: (room, event) => this.onRoomEvent(room, event),
      origin: (user) => this.hub.get(user)?.key ?? '',
      recentLimit: deps.config.history.onJoin,
    });
    this.stall = new StallGuard({
      ttlMs: deps.config.presence.ttlMs,
      presence: deps.presence,
      log: deps.log,
      clients: () => [...this.hub.clients()].filter((c) => c.ready && !c.closed),
      ownerOf: (c) => this.ownerOf(c),
      giveUp: (c) => this.claimLost(c),
      rejoined: (room, user, members) => this.notices.joined(room, user, members),
      heartbeat: () => this.heartbeat(),
    });
  }

  get config(): ConfigShape {
    return this.deps.config;
  }

  /** Starts the broker handlers and the heartbeat, reaper and ping timers. */
  start(): void {
    this.deps.broker.setHandlers({
      onRoomEvent: (room, event) => this.onRoomEvent(room, event),
      onUserEvent: (user, event) => this.onUserEvent(user, event),
      onDisconnected: () => this.catchUp.disconnected(),
      onReconnected: () => void this.track(this.catchUp.reconnected()),
    });
    const { presence, ws } = this.deps.config;
    this.every(presence.heartbeatMs, async () => {
      await this.stall.gate();
      await this.heartbeat();
    });
    // A timer of its own, never held back by a slow heartbeat round: only a freeze makes it late.
    this.every(presence.heartbeatMs, () => void this.stall.tick());
    this.every(presence.reapIntervalMs, async () => {
      await this.stall.gate();
      await this.reap();
    });
    this.every(ws.pingIntervalMs, () => this.pingAll());
  }

  private every(ms: number, fn: () => Promise<void> | void): void {
    let running = false;
    const t = setInterval(async () => {
      if (running) return; // never stack a slow round on the previous one
      running = true;
      try {
        await fn();
      } finally {
        running = false;
      }
    }, ms);
    t.unref();
    this.timers.push(t);
  }

  // ------------------------------------------------------------ connections

  /** Runs a client's request, unless the client is gone or its name now belongs to another connection. */
  private runRequest(client: Client, req: Parameters<ClientHooks['onRequest']>[1]): Promise<void> {
    if (client.closed || !this.stall.mayAct(client)) return Promise.resolve();
    return handleRequest(this, client, req);
  }

  /** Takes over an upgraded socket: claims the name, registers, welcomes and joins the first room. */
  accept(ws: WebSocket, params: ConnectParams): Client {
    const { config, metrics, log } = this.deps;
    const session = params.session ? createHash('sha256').update(params.session).digest('hex').slice(0, 32) : '';
    const client = new Client(ws, params.user, params.dialect, session, this.worker, config.limits, this.clientHooks, metrics, log);
    this.connectionCount++;
    if (params.expiresAt !== undefined) client.expireAt(params.expiresAt);
    client.startAfter(this.track(this.setUp(client, params)));
    return client;
  }

  private async setUp(client: Client, params: ConnectParams): Promise<void> {
    const { presence, broker, log } = this.deps;
    let claim;
    try {
      claim = await presence.claim(client.user, this.ownerOf(client));
      // A client that quit and reconnects at once can beat its old connection's release
      // (the server sees the close no earlier than the client does): ask again briefly.
      for (let retry = 0; !claim.ok && retry < CLAIM_RETRIES && !client.closed; retry++) {
        await sleep(CLAIM_RETRY_MS);
        claim = await presence.claim(client.user, this.ownerOf(client));
      }
    } catch (err) {
      log.warn({ err, user: client.user }, 'cannot claim username: presence unavailable');
      this.deps.metrics.degraded.inc({ operation: 'claim' });
      client.sendError(ErrorCode.Unavailable, 'presence is unavailable; try again shortly');
      return client.close(CloseCode.TryAgainLater, 'presence unavailable');
    }
    if (!claim.ok) {
      client.sendError(ErrorCode.UsernameTaken, `username "${client.user}" is already taken; choose another`);
      return client.close(CloseCode.UsernameTaken, 'username taken');
    }
    if (client.closed) {
      // Gone while we claimed: give the name back.
      await presence.release(client.user, this.ownerOf(client)).catch(() => undefined);
      return;
    }
    if (claim.replaced && claim.replaced.worker !== this.worker) {
      // Our own session reconnected: tell the old connection's worker to close it. (On this
      // worker the hub displaces it below.) A drained or crashed worker answers nothing: fine.
      const room = params.room ?? DEFAULT_ROOM;
      await broker.sendToWorker(claim.replaced.worker, client.user, { kind: 'replaced', by: client.key, room }).catch(() => false);
    }
    const displaced = this.hub.add(client);
    if (displaced) {
      const oldRoom = displaced.room;
      this.displace(displaced, CloseCode.SessionReplaced, 'replaced by a newer connection');
      if (oldRoom && oldRoom !== (params.room ?? DEFAULT_ROOM)) this.leaveAfterTakeover(client.user, oldRoom);
    }
    this.deps.metrics.connections.set(this.hub.size);
    // From here on, onGone releases the claim whenever the client goes.
    client.ready = true;
    if (client.closed) return;
    // Corked until the first join has sent its room state: one write for the connect's frames.
    await client.corked(async () => {
      if (client.dialect === 'v1') {
        const { limits, history } = this.deps.config;
        client.sendFrame({
          type: 'welcome',
          user: client.user,
          room: params.room ?? DEFAULT_ROOM,
          worker: this.worker,
          shard: this.shard,
          protocol: SUBPROTOCOL_V1,
          limits: {
            maxFrameBytes: limits.maxFrameBytes,
            maxMessageLength: limits.maxMessageLength,
            historyOnJoin: history.onJoin,
            ratePerSec: limits.ratePerSec,
          },
        });
      }
      try {
        await this.join(client, params.room ?? DEFAULT_ROOM, params.after);
      } catch (err) {
        log.warn({ err, user: client.user }, 'first join failed');
        client.sendError(ErrorCode.Unavailable, 'cannot join a room now; try again shortly');
        client.close(CloseCode.TryAgainLater, 'fabric unavailable');
      }
    });
    log.debug({ user: client.user, dialect: client.dialect, key: client.key }, 'client connected');
  }

  /** Closes a client whose name another connection now holds, without leave events or release. */
  private displace(client: Client, code: number, reason: string): void {
    client.quiet = true;
    client.close(code, reason);
  }

  private async onGone(client: Client, code: number): Promise<void> {
    const { presence, log, metrics } = this.deps;
    this.connectionCount--;
    const holder = this.hub.remove(client);
    metrics.connections.set(this.hub.size);
    const room = client.room;
    for (const r of [...client.memberOf]) this.leaveLocal(client, r);
    if (client.ready && !client.quiet && this.draining && client.session && code === CloseCode.GoingAway) {
      // Parked: a client with a session token reconnects to another worker within moments and
      // takes its claim over. Keeping its claim and membership until then (at most the presence
      // TTL) spares the room a leave and a join notice per member: a reload is silent.
      log.debug({ user: client.user }, 'parked for a reconnect');
    } else if (client.ready && !client.quiet) {
      // Release first: a user reconnecting at once should find the name free.
      try {
        await presence.release(client.user, this.ownerOf(client));
      } catch (err) {
        metrics.degraded.inc({ operation: 'release' });
        log.warn({ err, user: client.user }, 'presence release failed; the entry will expire');
      }
      if (room) this.notices.left(room, client.user, 'disconnected');
    }
    log.debug({ user: client.user, code, holder }, 'client gone');
  }

  ownerOf(client: Client): Owner {
    return { worker: this.worker, conn: client.connId, session: client.session };
  }

  // ------------------------------------------------------------ rooms

  /**
   * Moves the client into `room` (or re-syncs it if already there): subscribe if first here,
   * leave the previous room, record presence, announce, then send the member list and history
   * while live frames for the room are held back, so the client sees history then live, no dupes.
   */
  async join(client: Client, room: string, after?: number, ref?: Ref): Promise<void> {
    // Checked before any read: a client that has not read its last history is not sent another.
    if (client.backlogged) return client.close(CloseCode.SlowConsumer, 'too slow: reconnect and resume');
    const prev = client.room;
    if (prev === room) return this.sendRoomState(client, room, after, ref);
    client.beginReplay(room);
    this.hub.join(client, room);
    try {
      await this.watch(room);
    } catch (err) {
      client.abortReplay();
      this.leaveLocal(client, room);
      throw new ProtocolError(ErrorCode.Unavailable, `cannot join ${room} now: the fabric is unavailable`, ref);
    }
    // The client may have gone while we awaited; onGone has cleaned up what existed then.
    if (client.closed) return this.leaveLocal(client, room);
    // Switch before touching presence: from here a heartbeat refreshes the new room, never
    // re-creating the membership the leave below removes.
    client.room = room;
    if (prev) {
      this.leaveLocal(client, prev);
      const out = await this.presenceOp('leave', () => this.deps.presence.leave(client.user, prev));
      this.notices.left(prev, client.user, 'left', out?.members);
      if (client.closed) return;
    }
    // The membership write and the reads of the member list and history leave together: Redis
    // runs them in order (the list includes the joiner) and auto-pipelining sends them in one write.
    const joining = this.presenceOp('join', () => this.deps.presence.join(client.user, room));
    const reads = client.dialect === 'v1' ? this.readRoomState(room, after) : undefined;
    const joined = await joining;
    // Not added: the user was a live member already (a parked reconnect resuming its place).
    // Announced before the joiner's own room state goes out, as before the reads were pipelined.
    if (joined?.added !== false) this.notices.joined(room, client.user, joined?.members ?? this.hub.members(room)?.size ?? 1);
    await this.sendRoomState(client, room, after, ref, reads);
  }

  /** Starts the reads a joiner's room state needs: the member list and the history. */
  private readRoomState(room: string, after?: number) {
    const { presence, history, config } = this.deps;
    const listing = presence.members(room, config.presence.listMax);
    const reading = after === undefined ? history.recent(room, config.history.onJoin) : history.since(room, after, config.history.onJoin);
    // Awaited later; a failure meanwhile must not count as an unhandled rejection.
    listing.catch(() => undefined);
    reading.catch(() => undefined);
    return { listing, reading };
  }

  private async sendRoomState(client: Client, room: string, after?: number, ref?: Ref, reads?: ReturnType<ChatNode['readRoomState']>): Promise<void> {
    if (client.dialect !== 'v1') {
      // The original dialect confirms a join only with the user's own notice. It is sent here,
      // not through the room's batched notices, which in a large room name only a few users.
      client.send(encode(legacySystem(joinedManyText([client.user], 1, room), room, { event: 'user_joined', user: client.user })));
      client.endReplay([]);
      return;
    }
    client.beginReplay(room);
    const { config } = this.deps;
    const { listing, reading } = reads ?? this.readRoomState(room, after);
    const listed = await listing.catch(() => {
      const local = [...(this.hub.members(room) ?? [])].map((c) => c.user).sort();
      return { users: local.slice(0, config.presence.listMax), count: local.length };
    });
    client.sendFrame({ type: 'joined', room, users: listed.users, count: listed.count, ...(ref !== undefined && { ref }) });
    let batch: HistoryBatch;
    try {
      batch = await reading;
    } catch (err) {
      this.deps.metrics.degraded.inc({ operation: 'history_read' });
      this.deps.log.warn({ err, room }, 'history read failed');
      batch = { messages: [], gap: null, reset: false };
      client.sendError(ErrorCode.Unavailable, 'history is unavailable right now; live messages continue', ref);
    }
    const frame = historyFrame(room, batch, after !== undefined, client.replayBudget, ref);
    client.sendReplay(frame.data);
    client.endReplay(frame.messages);
  }

  /** Subscribes to a room once per worker; concurrent joiners share the same subscription attempt. */
  private watch(room: string): Promise<void> {
    const linger = this.lingering.get(room);
    if (linger) {
      clearTimeout(linger);
      this.lingering.delete(room);
    }
    let p = this.roomWatches.get(room);
    if (!p) {
      p = this.deps.broker.watchRoom(room);
      this.roomWatches.set(room, p);
      p.catch(() => {
        if (this.roomWatches.get(room) === p) this.roomWatches.delete(room);
      });
    }
    return p;
  }

  /** Drops the client from a room here; the last one out schedules the unsubscribe. */
  private leaveLocal(client: Client, room: string): void {
    if (client.room === room) client.room = null;
    if (!this.hub.leave(client, room)) {
      this.deps.metrics.rooms.set(this.hub.roomCount);
      return;
    }
    this.deps.metrics.rooms.set(this.hub.roomCount);
    if (this.lingering.has(room)) return;
    const t = setTimeout(() => {
      this.lingering.delete(room);
      if (this.hub.hasRoom(room)) return;
      this.roomWatches.delete(room);
      this.catchUp.forget(room);
      this.deps.broker.unwatchRoom(room).catch((err) => this.deps.log.warn({ err, room }, 'unwatch failed'));
    }, this.deps.config.ws.roomLingerMs);
    t.unref();
    this.lingering.set(room, t);
  }

  async publish(room: string, event: RoomEvent): Promise<void> {
    await this.deps.broker.publish(room, event);
    this.deps.metrics.published.inc({ kind: event.kind });
  }

  /**
   * Runs a presence write; when Redis is down chat goes on and the heartbeat repairs it later.
   * Resolves with the write's result, or undefined when it failed.
   */
  private async presenceOp<T>(operation: string, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      this.deps.metrics.degraded.inc({ operation });
      this.deps.log.warn({ err, operation }, 'presence write failed; the next heartbeat repairs it');
      return undefined;
    }
  }

  // ------------------------------------------------------------ broker events

  /** Fans one room event out to this worker's members, encoding it at most once per dialect. */
  private onRoomEvent(room: string, received: RoomEvent): void {
    const event = currentEvent(received);
    if (event.kind === 'message' && !this.catchUp.fresh(room, event.message)) return;
    const members = this.hub.members(room);
    if (event.kind === 'message') {
      this.deps.metrics.deliveryLatency.observe(Math.max(0, Date.now() - Date.parse(event.message.ts)) / 1000);
    }
    if (!members || members.size === 0) return;
    let legacy: Buffer[] | undefined;
    let v1: Buffer[] | undefined;
    let skip: string | undefined;
    let key: string | null = null;
    const { summaryAbove } = this.deps.config.presence;
    const encodeFor = (d: Dialect): Buffer[] => {
      if (d === 'v1') return (v1 ??= roomFrames(event, 'v1', summaryAbove));
      return (legacy ??= roomFrames(event, 'legacy', summaryAbove));
    };
    if (event.kind === 'message') {
      skip = event.origin; // the sender gets an ack, not an echo (as in the original)
      key = messageKey(event.message.id, event.message.ts);
    }
    // An original-dialect joiner already had its own notice from its join (sendRoomState).
    const selfJoin = event.kind === 'presence' && event.joined.length === 1 && event.left.length === 0 ? event.joined[0] : undefined;
    for (const c of members) {
      if (c.key === skip) continue;
      if (selfJoin === c.user && c.dialect === 'legacy') continue;
      for (const data of encodeFor(c.dialect)) c.deliver(room, data, key);
    }
  }

  /**
   * Sends a user event to wherever presence says `user` is. On this worker it is handled at once;
   * a claim that moved between the lookup and the delivery (a takeover) gets one more lookup.
   */
  async sendToUser(user: string, event: UserEvent): Promise<boolean> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const owner = await this.deps.presence.locate(user);
      if (!owner) return false;
      const delivered = owner.worker === this.worker ? this.onUserEvent(user, event) : await this.deps.broker.sendToWorker(owner.worker, user, event);
      if (delivered) return true;
      await sleep(50);
    }
    return false;
  }

  private onUserEvent(user: string, event: UserEvent): boolean {
    const client = this.hub.get(user);
    if (!client || client.closed) return false;
    if (event.kind === 'replaced') {
      if (event.by === client.key) return false;
      const oldRoom = client.room;
      this.displace(client, CloseCode.SessionReplaced, 'replaced by a newer connection');
      if (oldRoom && oldRoom !== event.room) this.leaveAfterTakeover(user, oldRoom);
      return true;
    }
    const m = event.message;
    if (client.dialect === 'v1') client.sendFrame({ type: 'direct', ...m });
    // As in room-frames.ts: the original dialect would show a chat from the notice sender as the server's.
    else if (!isNoticeSender(m.from)) client.send(encode({ ...legacyChat({ id: null, room: client.room ?? '', from: m.from, text: m.text, ts: m.ts }), direct: true, to: m.to }));
    return true;
  }

  /**
   * A takeover started the user's new connection in another room: the old room hears it left now,
   * as for any move, rather than keeping a ghost until the TTL.
   */
  private leaveAfterTakeover(user: string, oldRoom: string): void {
    this.track(
      this.presenceOp('leave', () => this.deps.presence.leave(user, oldRoom)).then((out) => this.notices.left(oldRoom, user, 'left', out?.members)),
    );
  }

  // ------------------------------------------------------------ timers

  /** Refreshes every local user's presence; closes clients whose claim was lost. */
  async heartbeat(): Promise<void> {
    const entries = [];
    for (const c of this.hub.clients()) {
      if (c.ready && !c.closed && c.room) entries.push({ user: c.user, room: c.room, owner: this.ownerOf(c) });
    }
    try {
      const lost = await this.deps.presence.heartbeat(entries);
      for (const user of lost) {
        const c = this.hub.get(user);
        if (c) this.stall.giveUp(c);
      }
    } catch (err) {
      this.deps.metrics.degraded.inc({ operation: 'heartbeat' });
      this.deps.log.warn({ err }, 'presence heartbeat failed; retrying next interval');
      this.holdReaping();
    }
  }

  /**
   * After a presence failure every entry may have expired by the time Redis is back: reaping
   * before each worker's heartbeat has restored its users would announce live users as gone.
   */
  private holdReaping(): void {
    this.reapAfter = Math.max(this.reapAfter, Date.now() + this.deps.config.presence.ttlMs + REDIS_RETRY_CAP_MS);
  }

  /**
   * Closes `client`, whose name another connection holds now, with 4007, unless a session
   * takeover's "replaced" event closes it with 4005 first (the heartbeat can run between the new
   * claim and that event). Until then nothing it sends is acted on (StallGuard.giveUp).
   */
  private claimLost(client: Client): void {
    setTimeout(() => {
      if (!client.closed) this.displace(client, CloseCode.ClaimLost, 'another connection holds this username');
    }, CLAIM_LOST_GRACE_MS).unref();
  }

  /** Removes expired members (a dead worker's users) and announces each leave exactly once. */
  async reap(): Promise<void> {
    if (Date.now() < this.reapAfter) return;
    try {
      const expired = await this.deps.presence.reap();
      // A reap queued while Redis was away runs first thing when it is back, before any
      // heartbeat: if presence failed meanwhile, what it found expired is not news to announce.
      if (Date.now() < this.reapAfter) return;
      for (const { room, user } of expired) {
        const local = this.hub.get(user);
        if (local && local.room === room) continue; // ours and alive: the next heartbeat restores it
        this.notices.left(room, user, 'timeout');
      }
    } catch (err) {
      this.deps.metrics.degraded.inc({ operation: 'reap' });
      this.deps.log.debug({ err }, 'presence reap failed');
      this.holdReaping();
    }
  }

  /** One ping round, PING_CHUNK clients at a time with the event loop free in between. */
  private async pingAll(): Promise<void> {
    let n = 0;
    for (const c of [...this.hub.clients()]) {
      if (c.closed) continue;
      if (!c.alive) {
        c.close(CloseCode.Unresponsive, 'no pong');
        continue;
      }
      c.alive = false;
      c.ws.ping();
      if (++n % PING_CHUNK === 0) await new Promise((r) => setImmediate(r));
    }
  }

  // ------------------------------------------------------------ shutdown

  private track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p)).catch(() => undefined);
    return p;
  }

  /**
   * Graceful shutdown: close every client with 1001 (reconnect and resume elsewhere), remove
   * their presence and announce their leave, then drain the broker.
   */
  async drain(): Promise<void> {
    this.draining = true;
    for (const t of this.timers) clearInterval(t);
    for (const t of this.lingering.values()) clearTimeout(t);
    for (const c of [...this.hub.clients()]) c.close(CloseCode.GoingAway, 'server restarting: reconnect');
    while (this.pending.size) await Promise.allSettled([...this.pending]);
    await this.notices.flush();
    await this.deps.broker.close();
  }
}
