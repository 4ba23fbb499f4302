import { randomBytes } from 'node:crypto';
import type { RawData, WebSocket } from 'ws';
import {
  ABUSE_CODES,
  CloseCode,
  encode,
  ErrorCode,
  legacySystem,
  parseRequest,
  ProtocolError,
  type Dialect,
  type ParseLimits,
  type Ref,
  type Request,
  type ServerFrame,
} from './protocol';
import type { Logger } from './log';
import type { Metrics } from './metrics';

export interface ClientLimits extends ParseLimits {
  ratePerSec: number;
  rateBurst: number;
  maxErrors: number;
  abuseWindowMs: number;
  maxBufferedBytes: number;
  maxQueuedBytes: number;
}

export interface ClientHooks {
  /** Runs one request; requests of one client run one at a time, in arrival order. */
  onRequest(client: Client, request: Request): Promise<void>;
  /** Called exactly once when the client is gone, whoever closed it. */
  onGone(client: Client, code: number): void;
}

interface Replay {
  room: string;
  queue: { data: Buffer; key: string | null }[];
}

const CLOSE_GRACE_MS = 2000;
/**
 * How many of the last replayed messages live frames are checked against. Only messages in flight
 * while the history was read can repeat it, and those are the newest ones.
 */
const REPLAY_TAIL = 100;

/**
 * Connection ids: a random prefix per process and a counter, unique without asking the system
 * for random bytes on every connect (a visible share of a connect storm's time).
 */
const CONN_PREFIX = randomBytes(3).toString('hex');
let connSeq = 0;

/** Where a socket's listeners find their Client: one shared function per event, not a closure per connection. */
const CLIENT = Symbol('chatfabric.client');
type ClientSocket = WebSocket & { [CLIENT]: Client };
const clientOf = (ws: WebSocket): Client => (ws as ClientSocket)[CLIENT];

function socketOnMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  clientOf(this).onMessage(data, isBinary);
}

function socketOnPong(this: WebSocket): void {
  clientOf(this).alive = true;
}

function socketOnClose(this: WebSocket, code: number): void {
  clientOf(this).socketClosed(code);
}

function socketOnError(this: WebSocket, err: Error): void {
  clientOf(this).socketError(err);
}

/** The longest wait setTimeout can do. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function clientExpiryDue(client: Client): void {
  client.expiryDue();
}

type Corkable = { cork(): void; uncork(): void };
/** ws has no public cork; its socket is the net.Socket it was handed, and ws's own per-frame cork nests inside. */
const socketOf = (ws: WebSocket): Corkable | undefined => (ws as unknown as { _socket?: Corkable })._socket;

/**
 * Sockets corked by fan-out in the current tick, uncorked together when it ends. The broker hands
 * over every message of one read in one synchronous run, so a member who gets several of them
 * gets one write (one system call) instead of one per message: a worker that falls behind under
 * load catches up with fewer, larger writes. At low rates each tick holds one message, and this
 * is the same single write as before.
 */
const corkedThisTick: Corkable[] = [];
function uncorkTick(): void {
  for (const s of corkedThisTick.splice(0)) s.uncork();
  tickCorks = new WeakSet();
}
/** The sockets in corkedThisTick, so a second message in the tick does not cork again. */
let tickCorks = new WeakSet<Corkable>();

/** Identity of a stored chat message for deduplication; null for messages without an id. */
export function messageKey(id: number | null, ts: string): string | null {
  return id === null ? null : `${id}@${ts}`;
}

/**
 * One client connection: parsing, validation, rate limiting, abuse control, backpressure and
 * liveness. It knows nothing of rooms beyond which one it is in; the node decides what to do.
 */
export class Client {
  /** Unique per connection, also across workers: "<worker>/<random>". */
  readonly key: string;
  /** The room the client is in; null until the first join completes. */
  room: string | null = null;
  /** Rooms the hub lists this client in (two, briefly, while it switches). Maintained by Hub. */
  readonly memberOf = new Set<string>();
  /** True once the username is claimed and the client is registered. */
  ready = false;
  /** Set when the client was displaced (same user elsewhere): no leave events on close. */
  quiet = false;
  closed = false;
  /** Set by pings: false after a ping until the pong arrives. */
  alive = true;

  private replay: Replay | null = null;
  /** "<id>@<ts>" of the newest messages the last history replay sent, to drop their live copies. */
  private replayed: Set<string> | null = null;
  /**
   * Size of the last history frame, allowed above the slow-consumer limit until the buffer drains.
   * One frame's worth, never a sum: a client re-syncing without reading must not earn more room.
   */
  private grace = 0;
  /** Set once the abuse limit is reached: frames are ignored while the replies already due go out. */
  private ending = false;
  private tokens: number;
  private refilled = Date.now();
  /** Times of recent abuse errors; most clients never make one, so it is created on the first. */
  private errorTimes: number[] | null = null;
  private chain: Promise<void> = Promise.resolve();
  /** Closes the connection when its token expires (auth.mode jwt only). */
  private expiry: NodeJS.Timeout | null = null;
  private expiresAt = Infinity;

  constructor(
    readonly ws: WebSocket,
    readonly user: string,
    readonly dialect: Dialect,
    /** sha256 of the client's session token, or '' */
    readonly session: string,
    worker: string,
    private readonly limits: ClientLimits,
    private readonly hooks: ClientHooks,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.key = `${worker}/${CONN_PREFIX}${(++connSeq).toString(36)}`;
    this.tokens = limits.rateBurst;
    (ws as ClientSocket)[CLIENT] = this;
    ws.on('message', socketOnMessage);
    ws.on('pong', socketOnPong);
    ws.on('close', socketOnClose);
    ws.on('error', socketOnError);
  }

  /** The socket closed (whoever closed it). */
  socketClosed(code: number): void {
    this.gone(code);
  }

  socketError(err: Error): void {
    this.log.debug({ err, user: this.user }, 'client socket error');
  }

  get connId(): string {
    return this.key.slice(this.key.lastIndexOf('/') + 1);
  }

  /** Requests that arrive before `setup` settles wait for it. */
  startAfter(setup: Promise<void>): void {
    this.chain = setup.catch(() => undefined);
  }

  /** One frame from the client (called by the socket's listener). */
  onMessage(data: RawData, isBinary: boolean): void {
    if (this.closed || this.ending) return;
    if (isBinary) {
      return this.reject(new ProtocolError(ErrorCode.BinaryFrame, 'binary frames are not supported; send JSON text frames'));
    }
    // Every frame costs a token; a refused one is still parsed (it is bounded by the frame size,
    // and floods end at the abuse limit) so that the error can carry the request's ref.
    const allowed = this.takeToken();
    const limited = (ref?: Ref) =>
      new ProtocolError(ErrorCode.RateLimited, `too many frames: the limit is ${this.limits.ratePerSec} per second; this one was dropped`, ref);
    const bytes = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
    let request: Request;
    try {
      // Size first: an oversize frame is refused without decoding it.
      const text = bytes > this.limits.maxFrameBytes ? '' : Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]).toString('utf8');
      request = parseRequest(text, bytes, this.dialect, this.limits);
    } catch (err) {
      return this.reject(allowed ? err : limited(err instanceof ProtocolError ? err.ref : undefined));
    }
    if (!allowed) return this.reject(limited(request.ref));
    this.metrics.messagesIn.inc({ kind: request.kind });
    this.chain = this.chain
      .then(() => (this.closed ? undefined : this.hooks.onRequest(this, request)))
      .catch((err) => this.reject(err, request.ref));
  }

  /** Answers a failed request with an error frame; counts it towards the abuse limit. */
  reject(err: unknown, ref?: Ref): void {
    if (!(err instanceof ProtocolError)) {
      this.log.error({ err, user: this.user }, 'request failed');
      err = new ProtocolError(ErrorCode.Unavailable, 'the server could not complete the request; try again', ref);
    }
    const e = err as ProtocolError;
    this.sendError(e.code, e.message, e.ref ?? ref);
    if (!ABUSE_CODES.has(e.code)) return;
    const now = Date.now();
    const times = (this.errorTimes ??= []);
    times.push(now);
    while (times.length && times[0] <= now - this.limits.abuseWindowMs) times.shift();
    if (times.length > this.limits.maxErrors) this.endForAbuse();
  }

  /**
   * Closes with 4002 once the requests accepted before the limit have run, so that their replies
   * (a flood's pongs) are not lost behind the close; a request that hangs does not hold it open.
   */
  private endForAbuse(): void {
    if (this.ending) return;
    this.ending = true;
    const end = () => this.close(CloseCode.Abuse, 'too many bad frames');
    const timer = setTimeout(end, CLOSE_GRACE_MS).unref();
    void this.chain.then(() => {
      clearTimeout(timer);
      end();
    });
  }

  sendError(code: ErrorCode, message: string, ref?: Ref): void {
    this.metrics.errors.inc({ code });
    if (this.dialect === 'v1') this.sendFrame({ type: 'error', code, message, ...(ref !== undefined && { ref }) });
    else this.send(encode(legacySystem(`error: ${message}`, this.room ?? '', { code })));
  }

  sendFrame(frame: ServerFrame): void {
    this.send(encode(frame));
  }

  /**
   * Sends an encoded frame, closing the client if it cannot keep up. Fan-out passes one Buffer
   * to every recipient, so the frame is UTF-8 encoded once per worker, not once per client.
   */
  send(data: string | Buffer): void {
    if (this.closed) return;
    this.ws.send(data, { binary: false });
    this.metrics.messagesOut.inc();
    // ws queues without limit; a reader that falls this far behind is cut loose to resume later.
    const buffered = this.ws.bufferedAmount;
    if (buffered > Math.min(this.limits.maxQueuedBytes, this.limits.maxBufferedBytes + this.grace)) {
      this.close(CloseCode.SlowConsumer, 'too slow: reconnect and resume');
    } else if (buffered <= this.limits.maxBufferedBytes) {
      this.grace = 0;
    }
  }

  /**
   * Runs `fn` with the socket corked, so that the frames it sends leave in one write: a connect's
   * welcome, member list and history cost one system call instead of three. ws has no public
   * cork (see socketOf).
   */
  async corked<T>(fn: () => Promise<T>): Promise<T> {
    const socket = socketOf(this.ws);
    socket?.cork();
    try {
      return await fn();
    } finally {
      socket?.uncork();
    }
  }

  /**
   * Live traffic for a room: held while that room's history is being replayed, and dropped if the
   * replay already sent it. `key` is "<id>@<ts>" of a stored chat message, else null. Id and time
   * together tell a true repeat from a new message whose id is reused (a room's ids restart after
   * a Redis restart or idle expiry).
   */
  deliver(room: string, data: Buffer, key: string | null): void {
    if (this.replay?.room === room) {
      this.replay.queue.push({ data, key });
      return;
    }
    if (room !== this.room) return;
    if (key !== null && this.replayed?.has(key)) return;
    const socket = socketOf(this.ws);
    if (socket && !tickCorks.has(socket)) {
      socket.cork();
      tickCorks.add(socket);
      if (corkedThisTick.push(socket) === 1) process.nextTick(uncorkTick);
    }
    this.send(data);
  }

  /** From now on, live frames of `room` wait until endReplay (a hold already running is kept). */
  beginReplay(room: string): void {
    if (this.replay?.room !== room) this.replay = { room, queue: [] };
  }

  /**
   * True while more than the slow-consumer limit is unsent, which only a history frame on its
   * way allows: another join now would queue a second copy behind one the client has not read.
   */
  get backlogged(): boolean {
    return this.ws.bufferedAmount > this.limits.maxBufferedBytes;
  }

  /** The largest history frame this connection may be sent: what the hard cap leaves above the limit. */
  get replayBudget(): number {
    return this.limits.maxQueuedBytes - this.limits.maxBufferedBytes;
  }

  /**
   * Sends a history batch (at most replayBudget bytes). It may be larger than the slow-consumer
   * limit (a long resume), so its size is granted on top of the limit until the client has
   * drained it; it replaces the grant of an earlier batch rather than adding to it.
   */
  sendReplay(data: string): void {
    this.grace = Buffer.byteLength(data);
    this.send(data);
  }

  /** Releases the held frames that the replay (whose messages are `sent`) did not already contain. */
  endReplay(sent: readonly { id: number | null; ts: string }[]): void {
    const replay = this.replay;
    this.replay = null;
    if (!replay) return;
    const keys = sent.slice(-REPLAY_TAIL).map((m) => messageKey(m.id, m.ts)).filter((k) => k !== null);
    const replayed = (this.replayed = keys.length ? new Set(keys) : null);
    for (const f of replay.queue) if (f.key === null || !replayed?.has(f.key)) this.send(f.data);
  }

  /** Drops held frames without sending them (the join failed). */
  abortReplay(): void {
    this.replay = null;
  }

  /** Closes with a code; onGone runs now, not after the close handshake. Safe to call twice. */
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.metrics.closes.inc({ code: String(code) });
    this.ws.close(code, reason);
    // A peer that never answers the close handshake must not hold the socket forever.
    setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
    this.gone(code);
  }

  /** Closes the connection with 4008 at `ms` (ms since the epoch), when its token expires. */
  expireAt(ms: number): void {
    this.expiresAt = ms;
    if (this.expiry) clearTimeout(this.expiry);
    // setTimeout cannot wait longer than 2^31-1 ms (24.8 days): a longer wait is done in steps.
    this.expiry = setTimeout(clientExpiryDue, Math.max(0, Math.min(ms - Date.now(), MAX_TIMER_MS)), this);
    this.expiry.unref();
  }

  /** The expiry timer fired. */
  expiryDue(): void {
    this.expiry = null;
    if (Date.now() < this.expiresAt) this.expireAt(this.expiresAt);
    else this.close(CloseCode.TokenExpired, 'token expired');
  }

  private gone(code: number): void {
    if (this.closed) return;
    this.closed = true;
    if (this.expiry) clearTimeout(this.expiry);
    this.expiry = null;
    this.hooks.onGone(this, code);
  }

  private takeToken(): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.limits.rateBurst, this.tokens + ((now - this.refilled) / 1000) * this.limits.ratePerSec);
    this.refilled = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
