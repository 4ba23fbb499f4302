/**
 * The headless chatfabric client: connection, extended protocol, state, reconnect and resume.
 * It knows nothing of blessed or of the DOM; the terminal client and the browser client render
 * its events, and the tests and load tools use it to speak the protocol. Reconnects use
 * exponential backoff with full jitter and resume every room from the highest contiguous id
 * seen, deduplicating by id, so a reload loses and doubles nothing.
 *
 * It runs in browsers as well as in Node: no Node-only import here or in what it imports (the
 * web build compiles it without Node's types, and test/unit/web-build.test.ts walks the
 * imports). The WebSocket comes from a factory: the browser's own by default, the ws package's
 * in Node (./client.ts), which can also report why a handshake was refused.
 */
import { offeredProtocols, RECONNECT_CODES, type ChatMessage, type DirectMessage, type RoomSummary } from '../../src/protocol/index.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { Emitter } from './emitter.js';
import { RoomTracker } from './tracker.js';

/** What the core needs of a WebSocket: the WHATWG interface, which browsers and ws both have. */
export interface ChatSocket {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

/**
 * Opens a socket. `refused` is for a handshake the server answered with an HTTP status instead
 * of an upgrade: only Node can read that (a browser sees a close with 1006 and nothing more).
 * `abort` drops a socket at once (a handshake that hangs), without a closing handshake.
 */
export type SocketFactory = (
  url: string,
  protocols: string[],
  refused: (status: number, body: string) => void,
) => ChatSocket & { abort?(): void };

/** The browser's WebSocket (and Node 22's). */
export const globalSocket: SocketFactory = (url, protocols) => {
  const WS = (globalThis as { WebSocket?: new (url: string, protocols: string[]) => ChatSocket }).WebSocket;
  if (!WS) throw new Error('no WebSocket here: pass a socket factory (tui/core/client.ts has the one for Node)');
  return new WS(url, protocols);
};

/** readyState of an open WebSocket (the same in every implementation). */
const OPEN = 1;

function randomSession(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

type Timer = ReturnType<typeof setTimeout>;

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface ChatClientOptions {
  /** ws://host:port/ws */
  url: string;
  /**
   * The name to claim. With a token it may be left out: the server takes the name from the
   * token, and the client learns it from the welcome frame.
   */
  username?: string;
  /** A JWT for a server with auth.mode jwt, offered as the subprotocol chatfabric.auth.<token>. */
  token?: string;
  /** First room (default global). */
  room?: string;
  /** Session token for takeover on reconnect, offered as chatfabric.session.<token>; generated when absent. */
  session?: string;
  reconnect?: boolean;
  backoff?: BackoffOptions;
  /** How long a request waits for its reply (default 10 s). */
  requestTimeoutMs?: number;
  /** How long a connection attempt may take until the welcome frame (default 10 s). */
  handshakeTimeoutMs?: number;
  /** Opens the WebSocket (default: the global WebSocket, as in a browser). */
  socket?: SocketFactory;
}

export interface ServerError {
  code: string;
  message: string;
}

type Frame = Record<string, any>;

interface Pending {
  resolve: (f: Frame) => void;
  reject: (e: Error) => void;
  timer: Timer;
}

/**
 * Events: 'state' (ConnectionState, detail), 'welcome' (frame), 'joined' (room, users),
 * 'message' (ChatMessage, {own, replay}), 'gap' (room, {from,to}), 'reset' (room),
 * 'presence' (room, users), 'user_joined' / 'user_left' (frame), 'presence_batch' (frame: several
 * joins and leaves at once, or a summary of a large room's), 'direct' (DirectMessage),
 * 'server_error' (ServerError), 'closed' (code, reason).
 */
export class ChatClient extends Emitter {
  state: ConnectionState = 'closed';
  room: string;
  worker = '';
  shard = '';
  /** Members of the current room (in a large room, only those the server named). */
  readonly members = new Set<string>();
  /** Size of the current room as the server last reported it. */
  memberCount = 0;
  readonly tracker = new RoomTracker();
  /** Round-trip time of the last ping, ms. */
  rtt: number | null = null;
  readonly session: string;
  reconnects = 0;
  private ws: (ChatSocket & { abort?(): void }) | null = null;
  private attempt = 0;
  private seq = 0;
  private readonly pending = new Map<string, Pending>();
  private retryTimer: Timer | null = null;
  private stopped = false;

  /** The refusal of the last handshake (`HTTP 401: invalid token: expired`), if it was refused. */
  refusal: string | null = null;
  private name: string;

  constructor(private readonly opts: ChatClientOptions) {
    super();
    if (!opts.username && !opts.token) throw new Error('a username or a token is required');
    this.room = opts.room ?? 'global';
    this.session = opts.session ?? randomSession();
    this.name = opts.username ?? '';
  }

  /** The username: as given, or, with a token and no name, the token's once welcomed ('' before). */
  get username(): string {
    return this.name;
  }

  /** Connects; resolves on the first welcome, rejects if that first attempt is refused. */
  connect(): Promise<void> {
    this.stopped = false;
    return new Promise((resolve, reject) => {
      this.once('welcome', () => resolve());
      this.open((err) => reject(err));
    });
  }

  private open(onRefused?: (err: Error) => void): void {
    this.refusal = null;
    // The name stays in the query (nginx hashes on it to keep a user on one worker); the
    // secrets go as subprotocol values, which no proxy or worker logs.
    const q = new URLSearchParams({ ...(this.name && { username: this.name }), room: this.room });
    const after = this.tracker.resumeAfter(this.room);
    if (after !== undefined) q.set('after', String(after));
    let welcomed = false;
    // A bad request or bad credentials stay bad: retrying cannot help (a 503 can).
    const refused = (status: number, body: string) => {
      const final = status === 400 || status === 401 || status === 403;
      if (final) this.stopped = true;
      this.refusal = `HTTP ${status}${body.trim() ? `: ${body.trim().slice(0, 500)}` : ''}`;
      if (!final) return;
      this.setState('closed', this.refusal);
      if (onRefused && !welcomed) onRefused(new Error(this.refusal));
    };
    const ws = (this.opts.socket ?? globalSocket)(`${this.opts.url}?${q}`, offeredProtocols({ v1: true, session: this.session, token: this.opts.token }), refused);
    this.ws = ws;
    this.setState(this.reconnects > 0 || this.attempt > 0 ? 'reconnecting' : 'connecting');
    // A server that accepts the socket but never welcomes (it died mid-setup) must not hold us.
    const handshake = setTimeout(() => (ws.abort ? ws.abort() : ws.close()), this.opts.handshakeTimeoutMs ?? 10_000);
    ws.onmessage = (ev) => {
      let f: Frame;
      try {
        f = JSON.parse(String(ev.data));
      } catch {
        return;
      }
      if (f.type === 'welcome') {
        welcomed = true;
        this.refusal = null;
        if (typeof f.user === 'string' && f.user) this.name = f.user;
        clearTimeout(handshake);
        this.attempt = 0;
      }
      this.onFrame(f);
    };
    ws.onerror = () => undefined;
    let closed = false;
    ws.onclose = ({ code, reason }) => {
      if (closed) return;
      closed = true;
      clearTimeout(handshake);
      if (this.ws === ws) this.ws = null;
      for (const [, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(new Error(`connection closed (${code})`));
      }
      this.pending.clear();
      this.emit('closed', code, reason);
      // Refused for good (name taken, replaced, abuse): stop, unless it was never welcomed and may be a transient refusal.
      const retry = this.opts.reconnect !== false && !this.stopped && (RECONNECT_CODES.has(code) || code === 1005 || (!welcomed && code !== 4001));
      if (!retry) {
        if (this.refusal !== null && !welcomed) return; // reported with the refusal's text
        this.setState('closed', reason || String(code));
        if (!welcomed && onRefused) onRefused(new Error(reason || `closed with ${code}`));
        return;
      }
      const delay = backoffDelay(this.attempt++, this.opts.backoff);
      this.setState('reconnecting', `retrying in ${delay} ms`);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.reconnects++;
        this.open();
      }, delay);
    };
  }

  private setState(state: ConnectionState, detail?: string): void {
    this.state = state;
    this.emit('state', state, detail);
  }

  private onFrame(f: Frame): void {
    const waiter = f.ref !== undefined ? this.pending.get(String(f.ref)) : undefined;
    switch (f.type) {
      case 'welcome':
        this.worker = f.worker;
        this.shard = f.shard;
        this.setState('open');
        this.emit('welcome', f);
        break;
      case 'joined':
        this.room = f.room;
        this.members.clear();
        for (const u of f.users) this.members.add(u);
        this.memberCount = typeof f.count === 'number' ? f.count : this.members.size;
        this.emit('joined', f.room, [...this.members]);
        this.emit('presence', f.room, [...this.members]);
        break;
      case 'history':
        this.onHistory(f);
        break;
      case 'message':
        this.accept(f as unknown as ChatMessage, false, false);
        break;
      case 'user_joined':
        if (f.room === this.room && !this.members.has(f.user)) {
          this.members.add(f.user);
          this.memberCount++;
        }
        this.emit('user_joined', f);
        this.emit('presence', f.room, [...this.members]);
        break;
      case 'user_left':
        if (f.room === this.room && this.members.delete(f.user)) this.memberCount = Math.max(0, this.memberCount - 1);
        this.emit('user_left', f);
        this.emit('presence', f.room, [...this.members]);
        break;
      case 'presence':
        if (f.room === this.room) {
          for (const u of f.joined) this.members.add(u);
          for (const l of f.left) this.members.delete(l.user);
          this.memberCount = f.members;
        }
        this.emit('presence_batch', f);
        this.emit('presence', f.room, [...this.members]);
        break;
      case 'direct':
        this.emit('direct', f as unknown as DirectMessage);
        break;
      case 'pong':
        break;
      case 'error':
        // Not 'error': an EventEmitter throws on an 'error' nobody listens to.
        if (!waiter) this.emit('server_error', { code: f.code, message: f.message } satisfies ServerError);
        break;
    }
    if (waiter && f.type !== 'user_joined') {
      this.pending.delete(String(f.ref));
      clearTimeout(waiter.timer);
      if (f.type === 'error') waiter.reject(Object.assign(new Error(f.message), { code: f.code }));
      else waiter.resolve(f);
    }
  }

  private onHistory(f: Frame): void {
    const room = f.room as string;
    const resumed = this.tracker.resumeAfter(room);
    if (f.reset) {
      this.tracker.reset(room);
      this.emit('reset', room);
    }
    if (f.gap) {
      this.tracker.skip(room, f.gap.to);
      this.emit('gap', room, f.gap);
    }
    const messages = f.messages as ChatMessage[];
    if ((resumed === undefined || f.reset) && messages.length && messages[0].id !== null) {
      this.tracker.baseline(room, (messages[0].id as number) - 1);
    }
    for (const m of messages) this.accept(m, m.from === this.name, true);
  }

  /** Emits a message once: ids already seen (replays, resends) are dropped. */
  private accept(m: ChatMessage, own: boolean, replay: boolean): void {
    if (m.id !== null && !this.tracker.see(m.room, m.id)) return;
    this.emit('message', m, { own, replay });
  }

  private request(frame: Frame): Promise<Frame> {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN || this.state !== 'open') {
      return Promise.reject(new Error('not connected'));
    }
    const ref = `r${++this.seq}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(new Error('request timed out'));
      }, this.opts.requestTimeoutMs ?? 10_000);
      this.pending.set(ref, { resolve, reject, timer });
      ws.send(JSON.stringify({ ...frame, ref }));
    });
  }

  /** Sends a chat message to the current room; resolves with its stored form once acknowledged. */
  async say(text: string): Promise<ChatMessage> {
    const room = this.room;
    const ack = await this.request({ type: 'message', text });
    const m: ChatMessage = { id: ack.id ?? null, room: ack.room ?? room, from: this.name, text, ts: ack.ts };
    this.accept(m, true, false);
    return m;
  }

  /**
   * say(), for a person typing: a line sent while the connection is down (a reload, a network
   * blip) waits for the reconnect, up to `waitMs`, instead of failing. It had not been sent, so
   * sending it later cannot double it; lines waiting together go out in the order typed. A line
   * whose connection drops while it is in flight still fails: it may have been stored, and the
   * resume shows it if it was.
   */
  async sayWhenConnected(text: string, waitMs = 30_000): Promise<ChatMessage> {
    if (this.state !== 'open') await this.connected(waitMs);
    return this.say(text);
  }

  /** Resolves at the next welcome; rejects after `waitMs` or once the client is closed for good. */
  private connected(waitMs: number): Promise<void> {
    if (this.state === 'closed') return Promise.reject(new Error('not connected'));
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.off('welcome', onWelcome).off('state', onState);
        if (err) reject(err);
        else resolve();
      };
      const onWelcome = () => done();
      const onState = (state: ConnectionState) => {
        if (state === 'closed') done(new Error('not connected'));
      };
      const timer = setTimeout(() => done(new Error('not connected: gave up waiting for the reconnect')), waitMs);
      this.on('welcome', onWelcome).on('state', onState);
    });
  }

  /** Sends raw chat text, which the server may read as a slash command (`/join dev`). */
  sendText(text: string): void {
    this.ws?.send(JSON.stringify({ type: 'message', text, ref: `r${++this.seq}` }));
  }

  async join(room: string): Promise<void> {
    const after = this.tracker.resumeAfter(room);
    await this.request({ type: 'join', room, ...(after !== undefined && { after }) });
  }

  async leave(): Promise<void> {
    await this.request({ type: 'leave' });
  }

  async users(room?: string): Promise<string[]> {
    return (await this.request({ type: 'users', ...(room && { room }) })).users;
  }

  async rooms(): Promise<RoomSummary[]> {
    return (await this.request({ type: 'rooms' })).rooms;
  }

  async direct(to: string, text: string): Promise<void> {
    await this.request({ type: 'direct', to, text });
  }

  async help(): Promise<{ usage: string; help: string }[]> {
    return (await this.request({ type: 'help' })).commands;
  }

  /** Measures the round-trip time through the server. */
  async ping(): Promise<number> {
    const t0 = performance.now();
    await this.request({ type: 'ping' });
    this.rtt = performance.now() - t0;
    return this.rtt;
  }

  /** Closes for good (no reconnect). */
  close(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.ws?.close(1000);
    this.setState('closed', 'closed by user');
  }
}
