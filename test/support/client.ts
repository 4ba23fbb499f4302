/**
 * A test client that records every frame it receives and waits for frames by predicate
 * (no sleeps). Speaks either dialect.
 */
import WebSocket from 'ws';
import { offeredProtocols } from '../../src/protocol';

export type Frame = Record<string, any>;

export interface ConnectOptions {
  v1?: boolean;
  room?: string;
  after?: number;
  /** Offered as the subprotocol chatfabric.session.<session>. */
  session?: string;
  /** A JWT, offered as the subprotocol chatfabric.auth.<token>. */
  token?: string;
  /** A JWT sent as Authorization: Bearer <bearer>. */
  bearer?: string;
  /** The Origin header (a browser page's origin); none by default. */
  origin?: string;
  /** Extra raw query string, appended as is. */
  query?: string;
}

export class TestClient {
  readonly frames: Frame[] = [];
  /** Raw text of every frame, in order. */
  readonly raw: string[] = [];
  closeCode: number | null = null;
  closeReason = '';
  readonly closed: Promise<number>;
  private waiters = new Set<() => void>();

  constructor(readonly ws: WebSocket, readonly username: string) {
    ws.on('message', (data) => {
      const text = data.toString();
      this.raw.push(text);
      try {
        this.frames.push(JSON.parse(text));
      } catch {
        this.frames.push({ unparsable: text });
      }
      this.wake();
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        this.wake();
        resolve(code);
      }),
    );
    ws.on('error', () => undefined);
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Waits until some received frame (from index `from` on) matches; returns it. */
  async waitFor(pred: (f: Frame) => boolean, opts: { timeoutMs?: number; from?: number; what?: string } = {}): Promise<Frame> {
    const timeoutMs = opts.timeoutMs ?? 5000;
    const from = opts.from ?? 0;
    const find = () => this.frames.slice(from).find(pred);
    const hit = find();
    if (hit) return hit;
    return new Promise((resolve, reject) => {
      const check = () => {
        const f = find();
        if (f) {
          done();
          resolve(f);
        } else if (this.closeCode !== null && !opts.what?.includes('close')) {
          done();
          reject(new Error(`${this.username}: socket closed (${this.closeCode} ${this.closeReason}) while waiting for ${opts.what ?? 'a frame'}; got ${JSON.stringify(this.frames.slice(-5))}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.username}: timed out after ${timeoutMs} ms waiting for ${opts.what ?? 'a frame'}; last frames ${JSON.stringify(this.frames.slice(-8))}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  /** Waits until `count` frames match. */
  async waitForCount(pred: (f: Frame) => boolean, count: number, timeoutMs = 5000): Promise<Frame[]> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const hits = this.frames.filter(pred);
      if (hits.length >= count) return hits;
      if (Date.now() > end) {
        throw new Error(`${this.username}: saw ${hits.length}/${count} matching frames after ${timeoutMs} ms; last ${JSON.stringify(this.frames.slice(-5))}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.waiters.delete(wake);
          resolve();
        }, 50);
        const wake = () => {
          clearTimeout(t);
          this.waiters.delete(wake);
          resolve();
        };
        this.waiters.add(wake);
      });
    }
  }

  /** Sends a frame and waits for the first later frame that matches. */
  async request(frame: Frame, pred: (f: Frame) => boolean, timeoutMs = 5000): Promise<Frame> {
    const from = this.frames.length;
    this.send(frame);
    return this.waitFor(pred, { from, timeoutMs, what: JSON.stringify(frame) });
  }

  ofType(type: string): Frame[] {
    return this.frames.filter((f) => f.type === type);
  }

  close(code = 1000): Promise<number> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(code);
    return this.closed;
  }

  terminate(): void {
    this.ws.terminate();
  }
}

/** Opens a connection and resolves once the socket is open (not yet welcomed). */
export function connect(wsUrl: string, username: string | null, opts: ConnectOptions = {}): Promise<TestClient> {
  const q = new URLSearchParams();
  if (username !== null) q.set('username', username);
  if (opts.room) q.set('room', opts.room);
  if (opts.after !== undefined) q.set('after', String(opts.after));
  const url = `${wsUrl}?${q}${opts.query ? `&${opts.query}` : ''}`;
  const ws = new WebSocket(url, offeredProtocols({ v1: !!opts.v1, session: opts.session, token: opts.token }), {
    headers: opts.bearer ? { Authorization: `Bearer ${opts.bearer}` } : {},
    ...(opts.origin && { origin: opts.origin }),
  });
  const client = new TestClient(ws, username ?? '(none)');
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}: ${body.trim()}`), { status: res.statusCode, body })));
    });
    ws.once('error', reject);
  });
}

/** Connects with the extended dialect and waits until the first room's history has arrived. */
export async function connectV1(wsUrl: string, username: string | null, opts: Omit<ConnectOptions, 'v1'> = {}): Promise<TestClient> {
  const c = await connect(wsUrl, username, { ...opts, v1: true });
  await c.waitFor((f) => f.type === 'history', { what: `${username ?? 'the token user'}'s first history` });
  return c;
}

/** Connects with the original dialect and waits for its own join notice. */
export async function connectLegacy(wsUrl: string, username: string): Promise<TestClient> {
  const c = await connect(wsUrl, username);
  await c.waitFor((f) => f.type === 'system_message' && f.content === `${username} joined the room global`, { what: `${username}'s join notice` });
  return c;
}

/** One membership change a client was told about. */
export interface PresenceChange {
  kind: 'joined' | 'left';
  user: string;
  room: string;
  /** For leaves in the extended dialect: left, disconnected or timeout. */
  reason?: string;
}

/**
 * Every join and leave in `frames`, one entry per user, whether it came alone (`user_joined`,
 * `user_left`, or the original dialect's line) or in a batch (`presence`, `users_joined`,
 * `users_left`). Batches of large rooms name only a few users; tests that use this keep rooms small.
 */
export function presenceChanges(frames: readonly Frame[], room?: string): PresenceChange[] {
  const out: PresenceChange[] = [];
  for (const f of frames) {
    if (room !== undefined && f.room !== room) continue;
    if (f.type === 'user_joined') out.push({ kind: 'joined', user: f.user, room: f.room });
    else if (f.type === 'user_left') out.push({ kind: 'left', user: f.user, room: f.room, reason: f.reason });
    else if (f.type === 'presence') {
      for (const u of f.joined) out.push({ kind: 'joined', user: u, room: f.room });
      for (const l of f.left) out.push({ kind: 'left', user: l.user, room: f.room, reason: l.reason });
    } else if (f.type === 'system_message') {
      if (f.event === 'user_joined') out.push({ kind: 'joined', user: f.user, room: f.room });
      else if (f.event === 'user_left') out.push({ kind: 'left', user: f.user, room: f.room });
      else if (f.event === 'users_joined') for (const u of f.users) out.push({ kind: 'joined', user: u, room: f.room });
      else if (f.event === 'users_left') for (const u of f.users) out.push({ kind: 'left', user: u, room: f.room });
    }
  }
  return out;
}
