/**
 * Fuzzing a live worker: 20,000 random and malformed frames over several connections at once
 * (random bytes as text and binary, truncated and invalid JSON, huge numbers, wrong types, deep
 * nesting, oversize frames, unknown types, invalid UTF-8, control frames, raw frames that break
 * the WebSocket framing, and valid requests in between), reconnecting whenever the worker closes
 * a connection. Afterwards the worker must be alive, must not have logged an error, and must
 * serve a fresh client normally; its RSS before and after is printed and bounded.
 *
 * The seed is printed; FUZZ_SEED=<n> replays a run.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { SUBPROTOCOL_V1 } from '../../src/protocol';
import { connectV1, type TestClient } from '../support/client';
import { uniquePrefix } from '../support/prefix';
import { startWorker, type WorkerHandle } from '../support/worker';

const FRAMES = 20_000;
const CONNECTIONS = 8;
/** The worker's default frame limit; oversize frames are built around it. */
const MAX_FRAME_BYTES = 16 * 1024;
const MAX_PAYLOAD_BYTES = 1024 * 1024;
/** Generous: a worker that leaked per frame or per connection would pass it by far. */
const RSS_GROWTH_BOUND_MB = 200;

const seed = Number(process.env.FUZZ_SEED) || Math.floor(Math.random() * 2 ** 31);

/** mulberry32: small, seedable, good enough to pick cases. */
function prng(s: number): () => number {
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(seed);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) / 1024;
}

const TYPES = ['message', 'join', 'leave', 'users', 'rooms', 'direct', 'ping', 'help', 'chat_message', 'join_room', 'leave_room', 'list_users', 'list_rooms'];
const ROOMS = ['global', 'fz_a', 'fz_b', 'fz-c', '', 'a.b', '*', '>', ' ', 'x'.repeat(65), 'é', '../etc', 'fz_a\u0000'];
const USERS = ['fz0_1', 'fz1_1', 'nobody', '', 'a b', 'x'.repeat(33), 'fz.dot', '\u202e'];
const STRINGS = ['', ' ', '/', '//', '/join', '/join fz_a', '/msg', '/msg fz0_1 hi', '/users fz_a', '/rooms', '/help', '/nope', '/quit', '\u001b[31mred', '\u0000', '\ud83d\ude00'.repeat(3), 'é'.repeat(2001), 'x'.repeat(2000), '\u202e\u2066'];

/** A random JSON value, possibly nested. */
function value(depth = 0): unknown {
  switch (int(depth > 3 ? 6 : 9)) {
    case 0: return null;
    case 1: return rand() < 0.5;
    case 2: return pick([0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER, -0, 1e-300]);
    case 3: return pick(STRINGS);
    case 4: return pick(ROOMS);
    case 5: return randomBytes(int(40)).toString('latin1');
    case 6: return Array.from({ length: int(4) }, () => value(depth + 1));
    case 7: return Object.fromEntries(Array.from({ length: int(4) }, () => [pick(['type', 'room', 'text', 'content', 'to', 'after', 'ref', '__proto__', 'constructor']), value(depth + 1)]));
    default: return pick(TYPES);
  }
}

/** A plausible frame: a real type with fields that may be right or wrong. */
function plausible(): Record<string, unknown> {
  const f: Record<string, unknown> = { type: pick(TYPES) };
  for (const k of ['room', 'text', 'content', 'to', 'after', 'ref']) {
    if (rand() < 0.5) {
      f[k] = rand() < 0.5 ? value() : k === 'room' ? pick(ROOMS) : k === 'to' ? pick(USERS) : k === 'after' ? int(50) : k === 'ref' ? int(1000) : pick(STRINGS);
    }
  }
  return f;
}

/** A masked client frame with arbitrary first byte (FIN, RSV bits, opcode) and payload. */
function rawFrame(first: number, payload: Buffer, opts: { mask?: boolean; len?: number } = {}): Buffer {
  const len = opts.len ?? payload.length;
  const mask = opts.mask !== false;
  const head = len < 126 ? Buffer.from([first, (mask ? 0x80 : 0) | len]) : Buffer.from([first, (mask ? 0x80 : 0) | 126, len >> 8, len & 255]);
  if (!mask) return Buffer.concat([head, payload]);
  const key = randomBytes(4);
  const body = Buffer.from(payload.map((b, i) => b ^ key[i % 4]));
  return Buffer.concat([head, key, body]);
}

type Kind =
  | 'valid' | 'plausible' | 'wrong-types' | 'truncated' | 'bad-json' | 'huge-number' | 'deep' | 'oversize' | 'over-payload'
  | 'unknown-type' | 'random-text' | 'random-bytes-text' | 'binary' | 'bad-utf8' | 'ping' | 'pong' | 'raw-bad' | 'close';

const WEIGHTS: [Kind, number][] = [
  ['valid', 14], ['plausible', 18], ['wrong-types', 10], ['truncated', 8], ['bad-json', 6], ['huge-number', 4], ['deep', 3],
  ['oversize', 3], ['over-payload', 0.03], ['unknown-type', 6], ['random-text', 8], ['random-bytes-text', 0.5], ['binary', 6],
  ['bad-utf8', 0.5], ['ping', 4], ['pong', 3], ['raw-bad', 0.6], ['close', 0.3],
];
const TOTAL_WEIGHT = WEIGHTS.reduce((n, [, w]) => n + w, 0);
/**
 * Kinds after which the connection is over (invalid UTF-8 and broken framing close it with
 * 1007 or 1002, a payload over the hard cap with 1009, a close frame ends it): the loop stops
 * sending and waits, so that no frame is wasted on a socket the worker no longer reads.
 */
const FATAL: ReadonlySet<Kind> = new Set(['over-payload', 'random-bytes-text', 'bad-utf8', 'raw-bad', 'close']);
function kind(): Kind {
  let r = rand() * TOTAL_WEIGHT;
  for (const [k, w] of WEIGHTS) if ((r -= w) < 0) return k;
  return 'valid';
}

function valid(): Record<string, unknown> {
  return pick([
    () => ({ type: 'message', text: pick(['hi', 'é😀', '/rooms', '/users', '/join fz_b', '/leave', '//slash', `m${int(1e6)}`]) }),
    () => ({ type: 'chat_message', content: pick(['hello', '/rooms', '/help', '/join fz_a']) }),
    () => ({ type: 'join', room: pick(['fz_a', 'fz_b', 'global']), ...(rand() < 0.5 && { after: int(30) }) }),
    () => ({ type: 'join_room', room: pick(['fz_a', 'fz_b']) }),
    () => ({ type: pick(['leave', 'leave_room', 'users', 'list_users', 'rooms', 'list_rooms', 'help', 'ping']), ref: int(1e6) }),
    () => ({ type: 'direct', to: pick(USERS), text: 'psst' }),
  ])();
}

/** Sends one fuzz frame of the given kind on an open socket. */
function sendOne(ws: WebSocket, k: Kind): void {
  const socket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
  const text = (s: string) => ws.send(s);
  switch (k) {
    case 'valid': return text(JSON.stringify(valid()));
    case 'plausible': return text(JSON.stringify(plausible()));
    case 'wrong-types': return text(JSON.stringify({ type: pick(TYPES), room: value(), text: value(), content: value(), to: value(), after: value(), ref: value() }));
    case 'truncated': {
      const s = JSON.stringify(rand() < 0.5 ? plausible() : valid());
      return text(s.slice(0, int(s.length)));
    }
    case 'bad-json':
      return text(pick(["{'type':'ping'}", '{"type":"ping",}', '{"type":ping}', '{"type":"ping"', 'NaN', '{"type":"ping"}{"type":"ping"}', '/* */{"type":"ping"}', '{"type":"\\x41"}', '{"type":"\\ud800"}', '[', '"', '']));
    case 'huge-number':
      return text(pick([
        `{"type":"join","room":"fz_a","after":${'9'.repeat(int(3000) + 20)}}`,
        '{"type":"join","room":"fz_a","after":1e400}',
        '{"type":"join","room":"fz_a","after":-1e-400}',
        '{"type":"join","room":"fz_a","after":9007199254740993}',
        `{"type":"ping","ref":${'1'.repeat(400)}}`,
        '{"type":"join","room":"fz_a","after":0.0000001}',
      ]));
    case 'deep': {
      const n = 1000 + int(7000);
      return text(pick([`${'['.repeat(n)}${']'.repeat(n)}`, `{"type":"message","text":${'{"a":'.repeat(n / 5)}1${'}'.repeat(n / 5)}}`, `{"type":"join","room":${'['.repeat(n)}${']'.repeat(n)}}`]));
    }
    case 'oversize':
      return text(JSON.stringify({ type: 'message', text: 'x'.repeat(MAX_FRAME_BYTES + int(4 * MAX_FRAME_BYTES)) }));
    case 'over-payload':
      return text('y'.repeat(MAX_PAYLOAD_BYTES + 1 + int(1000)));
    case 'unknown-type':
      return text(JSON.stringify({ type: pick(['', 'PING', 'welcome', 'history', 'error', 'ack', '__proto__', 'toString', 'x'.repeat(5000), 'join ']), room: 'fz_a', ref: int(100) }));
    case 'random-text':
      return text(Array.from({ length: int(300) }, () => String.fromCodePoint(pick([int(128), int(0x800), int(0xd7ff), 0x10000 + int(0xfffff)]))).join(''));
    case 'random-bytes-text':
      return ws.send(bytes(int(200) + 1), { binary: false });
    case 'binary':
      return ws.send(rand() < 0.5 ? bytes(int(300)) : Buffer.from(JSON.stringify(valid())), { binary: true });
    case 'bad-utf8':
      return ws.send(Buffer.from(pick([[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x7b, 0xe2, 0x28, 0xa1, 0x7d]])), { binary: false });
    case 'ping':
      return ws.ping(bytes(int(126)));
    case 'pong':
      return ws.pong(bytes(int(126)));
    case 'close':
      return ws.close(pick([1000, 1001, 3000, 4000, 4999]), pick(['', 'bye', 'é'.repeat(20)]));
    case 'raw-bad':
      // Framing the worker must refuse: its ws closes the socket (1002), the worker carries on.
      socket.write(pick([
        () => rawFrame(0x81 | 0x40, Buffer.from('{"type":"ping"}')), // RSV1 without an extension
        () => rawFrame(0x83, Buffer.from('x')), // reserved opcode
        () => rawFrame(0x80, Buffer.from('continuation of nothing')),
        () => rawFrame(0x89, bytes(126), { len: 126 }), // a ping longer than 125 bytes
        () => rawFrame(0x09, Buffer.from('fragmented ping')), // a control frame without FIN
        () => rawFrame(0x81, Buffer.from('{"type":"ping"}'), { mask: false }),
        () => rawFrame(0x88, Buffer.from([0x03, 0xe7])), // close code 999
        () => rawFrame(0x88, Buffer.from([0x03])), // a one-byte close payload
        () => rawFrame(0x01, Buffer.from('{"type":')), // a text frame's first fragment, then nothing
        () => bytes(64),
      ])());
      return;
  }
}

interface Tally {
  frames: number;
  byKind: Record<string, number>;
  replies: number;
  connections: number;
  refused: number;
  closes: Record<string, number>;
}

/** Opens a socket; resolves null when the upgrade is refused or fails. */
function open(url: string, user: string, v1: boolean, query: string): Promise<WebSocket | null> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url}?username=${user}${query}`, v1 ? [SUBPROTOCOL_V1] : [], { maxPayload: 64 * 1024 * 1024 });
    ws.on('error', () => resolve(null));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(null);
    });
    ws.once('open', () => resolve(ws));
  });
}

/** One fuzzing connection after another until the shared budget of frames is spent. */
async function fuzzLoop(id: number, url: string, tally: Tally, upTo: number, deadline: number): Promise<void> {
  let n = 0;
  while (tally.frames < upTo && Date.now() < deadline) {
    const query = pick([
      '', '', '', '&room=fz_a', '&room=fz_b&after=0', `&after=${int(40)}`, `&session=fuzz_session_${id}_${int(3)}_0123456789`,
      '&room=a.b', '&after=-1', '&after=', '&session=short', '&room=%00', '&username=second',
    ]);
    const ws = await open(url, `fz${id}_${upTo}_${++n}`, rand() < 0.6, query);
    if (!ws) {
      tally.refused++;
      continue;
    }
    tally.connections++;
    ws.on('message', () => tally.replies++);
    const closed = new Promise<void>((resolve) =>
      ws.once('close', (code) => {
        tally.closes[code] = (tally.closes[code] ?? 0) + 1;
        resolve();
      }),
    );
    let sinceSync = 0;
    while (ws.readyState === WebSocket.OPEN && tally.frames < upTo) {
      const k = kind();
      sendOne(ws, k);
      tally.frames++;
      tally.byKind[k] = (tally.byKind[k] ?? 0) + 1;
      if (FATAL.has(k)) break;
      if (++sinceSync >= 32) {
        sinceSync = 0;
        // Let the worker keep up: wait for our writes to leave, and for its answers.
        await new Promise((r) => setTimeout(r, 1));
        while (ws.readyState === WebSocket.OPEN && ws.bufferedAmount > 256 * 1024) await new Promise((r) => setTimeout(r, 5));
      }
    }
    // A fatal frame that leaves the worker waiting (a fragment never finished, a header
    // announcing more bytes than come) ends in an abrupt disconnect instead: a case of its own.
    const t = setTimeout(() => ws.terminate(), 1000);
    if (ws.readyState === WebSocket.OPEN && tally.frames >= upTo) ws.close();
    await closed;
    clearTimeout(t);
  }
}

describe('fuzzing a live worker', () => {
  let w: WorkerHandle;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    w = await startWorker({
      natsUrl: inject('natsUrl'),
      redisUrl: inject('redisUrl'),
      prefix: uniquePrefix('fuzz'),
      id: 'fuzz',
      // The rate limit is the first check every frame meets; raised so that the frames reach the
      // parser and the handlers instead of being dropped. A lower abuse limit than the rate still
      // closes connections with 4002 now and then, so reconnects are part of the run: hundreds of
      // handshakes from one address, which the per-address handshake limit would refuse (it has
      // tests of its own).
      env: { RATE_LIMIT_PER_SEC: '100000', RATE_LIMIT_BURST: '100000', ABUSE_MAX_ERRORS: '60', HANDSHAKE_RATE_PER_SEC: '0' },
    });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await w?.stop();
  });

  it(`survives ${FRAMES} random and malformed frames and serves a fresh client afterwards`, async () => {
    console.log(`fuzz seed ${seed} (FUZZ_SEED=${seed} replays it)`);
    const before = rssMb(w.pid);
    const tally: Tally = { frames: 0, byKind: {}, replies: 0, connections: 0, refused: 0, closes: {} };
    const started = Date.now();
    // In two halves: growth that goes on in the second half as in the first would be a leak,
    // while a worker that is only warming up (JIT, heap, pools) grows in the first.
    const half = async (upTo: number) => {
      await Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => fuzzLoop(i, w.wsUrl, tally, upTo, started + 50_000)));
      return rssMb(w.pid);
    };
    const middle = await half(FRAMES / 2);
    const after = await half(FRAMES);
    const seconds = (Date.now() - started) / 1000;
    console.log(
      `fuzz: ${tally.frames} frames in ${seconds.toFixed(1)} s over ${tally.connections} connections (${tally.refused} upgrades refused), ` +
        `${tally.replies} frames back; closes ${JSON.stringify(tally.closes)}; by kind ${JSON.stringify(tally.byKind)}; ` +
        `worker RSS ${before.toFixed(1)} MB before, ${middle.toFixed(1)} MB after ${FRAMES / 2} frames, ${after.toFixed(1)} MB after ${FRAMES} ` +
        `(+${(after - before).toFixed(1)} MB)`,
    );
    expect(tally.frames).toBeGreaterThanOrEqual(FRAMES);
    expect(w.proc.exitCode, 'the worker is alive').toBeNull();
    expect(w.proc.signalCode).toBeNull();
    expect((await fetch(`${w.httpUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${w.httpUrl}/readyz`)).status).toBe(200);
    expect(after - before, `RSS growth (before ${before.toFixed(1)} MB, after ${after.toFixed(1)} MB)`).toBeLessThan(RSS_GROWTH_BOUND_MB);
    // Nothing the fuzz sent made a handler throw (logged "request failed") or went unhandled.
    const errors = w.logs.filter((l) => /"level":(50|60)/.test(l));
    expect(errors, errors.slice(0, 5).join('\n')).toEqual([]);

    // A fresh pair of clients is served normally: join, message round trip, ack.
    const alice = await connectV1(w.wsUrl, 'fz_alice', { room: 'fz_after' });
    clients.push(alice);
    const bob = await connectV1(w.wsUrl, 'fz_bob');
    clients.push(bob);
    const joined = await bob.request({ type: 'join', room: 'fz_after', ref: 'j' }, (f) => f.type === 'history' && f.ref === 'j');
    expect(joined.room).toBe('fz_after');
    const ack = await bob.request({ type: 'message', text: 'still here', ref: 'm' }, (f) => f.type === 'ack' && f.ref === 'm');
    expect(typeof ack.id).toBe('number');
    const heard = await alice.waitFor((f) => f.type === 'message' && f.text === 'still here');
    expect(heard).toMatchObject({ from: 'fz_bob', room: 'fz_after', id: ack.id });
  }, 90_000);
});
