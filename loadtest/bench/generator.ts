/**
 * One load-generator process (forked by the harness; several run at once so that no single
 * process's event loop or its 20,000 open files caps the load). It holds groups of client
 * connections, sends marked chat messages at a given rate, and counts what arrives: per step, a
 * delivery count and a latency histogram. It never parses a frame it only counts.
 *
 * Commands arrive over IPC as `{ id, op, ... }` and are answered with `{ id, ... }`.
 */
import { backoffDelay } from '../../tui/core/backoff';
import { chatFrame, handshakePath, handshakeProtocol, markedText, nowUs, readMarker, startsWith, type Dialect } from './dialect';
import { Histogram } from './histogram';
import type { Endpoint } from './systems';
import { WireSocket } from './wire';


export interface ConnectCommand {
  op: 'connect';
  group: string;
  dialect: Dialect;
  readyPrefix: string;
  endpoints: Endpoint[];
  /** One entry per client: its username, room and endpoint index. */
  clients: { username: string; room: string; endpoint: number }[];
  /** Connections in flight at once. */
  concurrency: number;
  /** A client not in its room by then counts as failed (`timeout`). */
  timeoutMs: number;
  /** Reconnect with backoff when the server drops the connection (the reload scenario). */
  reconnect?: boolean;
}

export interface ConnectReply {
  ready: number;
  readyByRoom: Record<string, number>;
  failed: Record<string, number>;
  elapsedMs: number;
  /** Time from TCP connect to the ready frame, µs. */
  connectHist: number[];
}

export interface SendReply {
  sent: number;
  sentByRoom: Record<string, number>;
  elapsedMs: number;
}

export interface StatsReply {
  received: number;
  hist: number[];
}

export interface ActivityReply {
  /** Frames received by every client of this process. */
  frames: number;
  /** nowUs() of the last frame received, 0 if none. */
  lastFrameUs: number;
  /** Why connections ended, by reason, over the process's life. */
  ends: Record<string, number>;
  /** The rest is for the group asked about. */
  ready: number;
  /** Clients that were dropped and are back in their room. */
  resumed: number;
  /** nowUs() of every return to the room after a drop. */
  resumedAtUs: number[];
  resumeHist: number[];
}

interface Client {
  username: string;
  room: string;
  endpoint: number;
  session: string;
  ws: WireSocket | null;
  ready: boolean;
  closing: boolean;
  startedUs: number;
  attempts: number;
  drops: number;
  droppedUs: number;
}

interface Group {
  cmd: ConnectCommand;
  prefix: Buffer;
  clients: Client[];
  readyList: Client[];
  /** nowUs() of every return to the room after a drop. */
  resumedAtUs: number[];
  /** From a client's drop to its return, µs. */
  resumeHist: Histogram;
}

const GEN_INDEX = Number(process.env.BENCH_GEN_INDEX ?? 0);
const groups = new Map<string, Group>();
const steps = new Map<number, { received: number; hist: Histogram }>();
let frames = 0;
let lastFrameUs = 0;
let connections = 0;
const ends: Record<string, number> = {};

/**
 * A distinct source address per 250 connections, spread over 127.0.0.0/8 by generator, so the
 * ephemeral ports of any one address (32768-60999) are never the limit.
 */
function localAddress(n: number): string {
  return `127.${20 + GEN_INDEX}.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;
}

function stepStats(step: number): { received: number; hist: Histogram } {
  let s = steps.get(step);
  if (!s) steps.set(step, (s = { received: 0, hist: new Histogram() }));
  return s;
}

function open(g: Group, c: Client, onSettled?: (ok: boolean, reason?: string) => void): void {
  const { cmd } = g;
  const ep = cmd.endpoints[c.endpoint % cmd.endpoints.length];
  c.startedUs = nowUs();
  c.ready = false;
  let settled = false;
  const settle = (ok: boolean, reason?: string) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    onSettled?.(ok, reason);
  };
  const timer = setTimeout(() => {
    if (!c.ready) {
      settle(false, 'timeout');
      c.closing = true;
      ws.destroy();
    }
  }, cmd.timeoutMs);
  const ws = new WireSocket(
    {
      host: ep.host,
      port: ep.port,
      path: handshakePath(cmd.dialect, ep.path, c.username, c.room),
      subprotocol: handshakeProtocol(cmd.dialect, cmd.reconnect ? c.session : undefined),
      localAddress: localAddress(connections++),
    },
    {
      onOpen() {},
      onText(buf, start, end) {
        frames++;
        const now = nowUs();
        lastFrameUs = now;
        if (!c.ready) {
          if (startsWith(buf, start, end, g.prefix)) {
            c.ready = true;
            g.readyList.push(c);
            if (c.drops > 0) {
              g.resumedAtUs.push(now);
              g.resumeHist.add(now - c.droppedUs);
            }
            c.attempts = 0;
            settle(true);
            return;
          }
          if (cmd.dialect === 'socketio' && buf[start] === 0x30 /* '0': Engine.IO open */) {
            ws.send('40');
            return;
          }
        }
        if (cmd.dialect === 'socketio' && end - start === 1 && buf[start] === 0x32 /* '2': ping */) {
          ws.send('3');
          return;
        }
        const m = readMarker(buf, start, end);
        if (!m) return;
        const s = stepStats(m[0]);
        s.received++;
        s.hist.add(now - m[1]);
      },
      onEnd(reason) {
        ends[reason] = (ends[reason] ?? 0) + 1;
        c.droppedUs = nowUs();
        if (c.ready) {
          c.ready = false;
          const i = g.readyList.indexOf(c);
          if (i >= 0) g.readyList.splice(i, 1);
        }
        c.ws = null;
        settle(false, reason);
        if (c.closing || !cmd.reconnect) return;
        c.drops++;
        setTimeout(() => {
          if (!c.closing) open(g, c);
        }, backoffDelay(c.attempts++));
      },
    },
  );
  c.ws = ws;
}

async function connect(cmd: ConnectCommand): Promise<ConnectReply> {
  const g: Group = { cmd, prefix: Buffer.from(cmd.readyPrefix), clients: [], readyList: [], resumedAtUs: [], resumeHist: new Histogram() };
  groups.set(cmd.group, g);
  const t0 = performance.now();
  const failed: Record<string, number> = {};
  const hist = new Histogram();
  let next = 0;
  await new Promise<void>((resolve) => {
    if (cmd.clients.length === 0) return resolve();
    let done = 0;
    const launch = () => {
      const spec = cmd.clients[next++];
      const c: Client = {
        ...spec,
        session: `bench${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`.padEnd(16, 'x').slice(0, 32),
        ws: null,
        ready: false,
        closing: false,
        startedUs: 0,
        attempts: 0,
        drops: 0,
        droppedUs: 0,
      };
      g.clients.push(c);
      open(g, c, (ok, reason) => {
        if (ok) hist.add(nowUs() - c.startedUs);
        else failed[reason ?? 'unknown'] = (failed[reason ?? 'unknown'] ?? 0) + 1;
        if (++done === cmd.clients.length) resolve();
        else if (next < cmd.clients.length) launch();
      });
    };
    for (let i = 0; i < Math.min(cmd.concurrency, cmd.clients.length); i++) launch();
  });
  const readyByRoom: Record<string, number> = {};
  for (const c of g.readyList) readyByRoom[c.room] = (readyByRoom[c.room] ?? 0) + 1;
  return { ready: g.readyList.length, readyByRoom, failed, elapsedMs: performance.now() - t0, connectHist: hist.counts };
}

/** Sends `ratePerSec` messages a second for `durationMs`, each from a random ready client. */
function send(cmd: { group: string; ratePerSec: number; durationMs: number; step: number }): Promise<SendReply> {
  const g = groups.get(cmd.group);
  const sentByRoom: Record<string, number> = {};
  if (!g || g.readyList.length === 0 || cmd.ratePerSec <= 0) return Promise.resolve({ sent: 0, sentByRoom, elapsedMs: 0 });
  const total = Math.round((cmd.ratePerSec * cmd.durationMs) / 1000);
  const t0 = performance.now();
  let sent = 0;
  return new Promise((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * cmd.ratePerSec));
      while (sent < due && g.readyList.length > 0) {
        const c = g.readyList[Math.floor(Math.random() * g.readyList.length)];
        c.ws!.send(chatFrame(g.cmd.dialect, markedText(cmd.step, nowUs())));
        sentByRoom[c.room] = (sentByRoom[c.room] ?? 0) + 1;
        sent++;
      }
      if (sent >= total || g.readyList.length === 0 || performance.now() - t0 > cmd.durationMs * 2) {
        clearInterval(timer);
        resolve({ sent, sentByRoom, elapsedMs: performance.now() - t0 });
      }
    };
    const timer = setInterval(tick, 2);
  });
}

function close(group: string): void {
  const g = groups.get(group);
  if (!g) return;
  for (const c of g.clients) {
    c.closing = true;
    c.ws?.close(1000);
  }
  groups.delete(group);
}

function activity(group: string | undefined): ActivityReply {
  const g = group ? groups.get(group) : undefined;
  let resumed = 0;
  for (const c of g?.readyList ?? []) if (c.drops > 0) resumed++;
  return {
    frames,
    lastFrameUs,
    ends: { ...ends },
    ready: g?.readyList.length ?? 0,
    resumed,
    resumedAtUs: g?.resumedAtUs ?? [],
    resumeHist: (g?.resumeHist ?? new Histogram()).counts,
  };
}

process.on('message', async (msg: any) => {
  let reply: unknown;
  switch (msg.op) {
    case 'connect':
      reply = await connect(msg as ConnectCommand);
      break;
    case 'send':
      reply = await send(msg);
      break;
    case 'stats': {
      const s = steps.get(msg.step);
      reply = { received: s?.received ?? 0, hist: s ? s.hist.counts : new Histogram().counts } satisfies StatsReply;
      break;
    }
    case 'received':
      reply = { received: steps.get(msg.step)?.received ?? 0 };
      break;
    case 'activity':
      reply = activity(msg.group);
      break;
    case 'close':
      close(msg.group);
      reply = {};
      break;
    case 'exit':
      for (const g of [...groups.keys()]) close(g);
      process.send!({ id: msg.id }, () => process.exit(0));
      return;
    default:
      reply = { error: `unknown op ${msg.op}` };
  }
  process.send!({ id: msg.id, ...(reply as object) });
});

process.on('disconnect', () => process.exit(0));
