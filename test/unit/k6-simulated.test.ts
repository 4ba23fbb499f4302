/**
 * The k6 scripts run end to end on a simulated k6, since real k6 cannot be installed here.
 *
 * Copies of loadtest/k6/ are imported with their `k6`, `k6/ws`, `k6/metrics` and `k6/execution`
 * imports pointed at small stand-ins: metrics and checks are recorded, sleep() and every timer run
 * on a virtual clock (Date.now() included), and ws.connect() blocks the VU in an event loop until
 * the socket closes, as k6/ws does (its close handler gets the close code, a server close other
 * than 1000/1001 raises 'error' first, a refused handshake returns a response without calling
 * the callback). Behind it a model chat server speaks both dialects with per-room ids, history,
 * resume and background traffic from other users, and can be told to lose or repeat a message.
 *
 * This checks the scripts' own logic (timelines, reconnect loop, bookkeeping, thresholds wiring),
 * not k6: the API names are checked by the type-check in k6-scripts.test.ts, the protocol by the
 * real worker in test/integration/k6-scripts.test.ts.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as chat from '../../loadtest/k6/lib/chat.js';

const K6_DIR = path.resolve(__dirname, '../../loadtest/k6');
const T0 = Date.UTC(2026, 0, 1);

// ---------------------------------------------------------------- the stand-ins for k6's modules

const STUBS: Record<string, string> = {
  k6: `
const sim = () => globalThis.__k6sim;
export function check(val, sets) {
  let all = true;
  for (const name of Object.keys(sets)) {
    const ok = !!sets[name](val);
    sim().checks.push({ name, ok });
    all = all && ok;
  }
  return all;
}
export function sleep(seconds) {
  if (sim().phase !== 'vu') throw new Error('sleep outside VU code');
  if (!(seconds >= 0)) throw new Error('sleep needs a non-negative number');
  sim().now += seconds * 1000;
}
export function group(name, fn) { return fn(); }
`,
  'k6/metrics': `
const sim = () => globalThis.__k6sim;
class Metric {
  constructor(name, isTime) {
    if (sim().phase !== 'init') throw new Error('metrics must be created in the init context: ' + name);
    if (!/^[a-zA-Z_][a-zA-Z0-9_]{0,127}$/.test(name)) throw new Error('invalid metric name ' + name);
    this.name = name;
    this.isTime = !!isTime;
  }
  add(value, tags) {
    if (tags !== undefined) {
      if (typeof tags !== 'object' || tags === null) throw new Error('tags must be an object');
      for (const k of Object.keys(tags)) if (typeof tags[k] !== 'string') throw new Error('tag ' + k + ' is not a string');
    }
    if (typeof value !== 'number' && typeof value !== 'boolean') throw new Error(this.name + ': value must be a number or boolean');
    sim().samples.push({ metric: this.name, type: this.constructor.name, value: Number(value), tags: tags || {} });
  }
}
export class Counter extends Metric {}
export class Rate extends Metric {}
export class Trend extends Metric {}
export class Gauge extends Metric {}
`,
  // k6/crypto and k6/encoding on node:crypto, for the tokens of a server with authentication on.
  'k6/crypto': `
import { createHmac } from 'node:crypto';
export default {
  hmac(alg, secret, data, enc) {
    if (enc !== 'base64rawurl') throw new Error('only base64rawurl is simulated');
    return createHmac(alg, secret).update(data).digest('base64url');
  },
};
`,
  'k6/encoding': `
export default {
  b64encode(text, enc) {
    if (enc !== 'rawurl') throw new Error('only rawurl is simulated');
    return Buffer.from(text, 'utf8').toString('base64url');
  },
};
`,
  'k6/execution': `
const sim = () => globalThis.__k6sim;
export default {
  get vu() { return sim().vu; },
  get scenario() { return sim().scenario; },
};
`,
  'k6/ws': `
const sim = () => globalThis.__k6sim;
function connect(url, params, callback) {
  const s = sim();
  if (s.phase !== 'vu') throw new Error('using websockets in the init context is not supported');
  if (typeof callback !== 'function') throw new Error('last argument to ws.connect must be a function');
  const server = s.server.accept(url, params || {});
  if (!server) return { url, status: 0, headers: {}, body: '', error: 'websocket: bad handshake' };
  const handlers = {};
  const emit = (ev, arg) => (handlers[ev] || []).slice().forEach((h) => h(arg));
  const events = [];
  let seq = 0;
  let closed = false;
  const add = (e) => { e.seq = seq++; events.push(e); };
  const finish = (code) => {
    if (closed) return;
    closed = true;
    emit('close', code);
    server.closed(code);
  };
  const positive = (ms, what) => { if (!(typeof ms === 'number' && ms > 0)) throw new Error(what + ' requires a >0 timeout parameter, received ' + ms); };
  const socket = {
    on(ev, h) {
      if (!['open', 'message', 'binaryMessage', 'ping', 'pong', 'close', 'error'].includes(ev)) throw new Error('unknown event ' + ev);
      (handlers[ev] = handlers[ev] || []).push(h);
    },
    send(data) {
      if (typeof data !== 'string') throw new Error('send takes a string');
      if (closed) return;
      s.sent.push(data);
      server.frame(data);
    },
    close(code) { finish(code === undefined ? 1001 : code); },
    ping() {},
    setTimeout(fn, ms) { positive(ms, 'setTimeout'); add({ at: s.now + ms, fn }); },
    setInterval(fn, ms) { positive(ms, 'setInterval'); add({ at: s.now + ms, fn, every: ms }); },
  };
  server.bind({
    push(frame, delay = 1) { add({ at: s.now + delay, data: typeof frame === 'string' ? frame : JSON.stringify(frame) }); },
    close(code, delay = 1) { add({ at: s.now + delay, closeCode: code }); },
    every(ms, fn) { add({ at: s.now + ms, fn, every: ms }); },
  });
  callback(socket);
  emit('open');
  server.open();
  for (let steps = 0; !closed; steps++) {
    if (steps > 500000) throw new Error('simulated connection never closed');
    if (!events.length) throw new Error('nothing scheduled and not closed: this connection would hang in k6');
    events.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const e = events.shift();
    if (e.at > s.now) s.now = e.at;
    if (e.data !== undefined) emit('message', e.data);
    else if (e.closeCode !== undefined) {
      if (e.closeCode !== 1000 && e.closeCode !== 1001) emit('error', { error: () => 'websocket: close ' + e.closeCode });
      finish(e.closeCode);
    } else {
      e.fn();
      if (e.every && !closed) add({ at: e.at + e.every, fn: e.fn, every: e.every });
    }
  }
  return { url, status: 101, headers: {}, body: '', error: '' };
}
export default { connect };
`,
};

// ---------------------------------------------------------------- the model chat server

interface Msg {
  id: number;
  room: string;
  from: string;
  text: string;
  ts: string;
}

interface Faults {
  /** On a resume (after given) with at least three messages, leave the second out of the history. */
  dropOnResume?: boolean;
  /** On a resume, deliver the last history message live as well. */
  repeatOnResume?: boolean;
  /** Close the first connection of the run with this code after this many ms. */
  closeFirst?: { code: number; afterMs: number };
}

class ModelChat {
  readonly rooms = new Map<string, { next: number; history: Msg[]; lastGen: number }>();
  readonly urls: string[] = [];
  /** The Sec-WebSocket-Protocol header of each handshake ('' without one). */
  readonly protocols: string[] = [];
  /** The Authorization header of each handshake ('' when none). */
  readonly authorizations: string[] = [];
  /** The room each connection was in when it closed. */
  readonly closedIn: string[] = [];
  connections = 0;

  constructor(
    readonly opts: { bgEveryMs: number; bgWorker: string; worker?: string; faults?: Faults },
  ) {}

  room(name: string) {
    let r = this.rooms.get(name);
    if (!r) this.rooms.set(name, (r = { next: 1, history: [], lastGen: sim.now }));
    return r;
  }

  store(room: string, from: string, text: string, at: number): Msg {
    const r = this.room(room);
    const m = { id: r.next++, room, from, text, ts: new Date(at).toISOString() };
    r.history.push(m);
    return m;
  }

  /** Other users' traffic, generated lazily up to now: every room gets a stamped message every bgEveryMs. */
  generate(room: string): Msg[] {
    const r = this.room(room);
    const out: Msg[] = [];
    while (r.lastGen + this.opts.bgEveryMs <= sim.now) {
      r.lastGen += this.opts.bgEveryMs;
      out.push(this.store(room, 'someone-else', chat.stampText({ sentAt: r.lastGen, worker: this.opts.bgWorker, seq: r.next }), r.lastGen));
    }
    return out;
  }

  accept(url: string, params: { headers?: Record<string, string> }) {
    this.urls.push(url);
    const offered = params.headers?.['Sec-WebSocket-Protocol'] ?? '';
    this.protocols.push(offered);
    this.authorizations.push(params.headers?.Authorization ?? '');
    const q = new URL(url).searchParams;
    const user = q.get('username');
    if (!user || !chat.USERNAME_PATTERN.test(user)) return null;
    const dialect: 'v1' | 'original' = offered.split(',').map((p) => p.trim()).includes(chat.SUBPROTOCOL_V1) ? 'v1' : 'original';
    const model = this;
    const n = this.connections++;
    let ctl: { push(f: unknown, delay?: number): void; close(code: number, delay?: number): void; every(ms: number, fn: () => void): void };
    let current = '';
    const ts = () => new Date(sim.now).toISOString();
    const sys = (content: string, extra: Record<string, unknown> = {}) => ({ type: 'system_message', sender: 'system', content, timestamp: ts(), room: current, ...extra });
    const deliver = (m: Msg) =>
      ctl.push(dialect === 'v1' ? { type: 'message', ...m } : { type: 'chat_message', sender: m.from, content: m.text, timestamp: m.ts, room: m.room, id: m.id }, 2);
    const join = (room: string, after: number | undefined, ref?: unknown) => {
      model.generate(room);
      current = room;
      if (dialect === 'original') return ctl.push(sys(`${user} joined the room ${room}`, { event: 'user_joined', user }));
      const all = model.room(room).history;
      const messages = after === undefined ? all.slice(-50) : all.filter((m) => m.id > after);
      const faults = model.opts.faults ?? {};
      const sent = faults.dropOnResume && after !== undefined && messages.length >= 3 ? messages.filter((_, i) => i !== 1) : messages;
      ctl.push({ type: 'joined', room, users: [user], ...(ref !== undefined ? { ref } : {}) });
      ctl.push({ type: 'history', room, messages: sent, gap: null, reset: false, ...(ref !== undefined ? { ref } : {}) });
      ctl.push({ type: 'user_joined', room, user, ts: ts() });
      if (faults.repeatOnResume && after !== undefined && messages.length) deliver(messages[messages.length - 1]);
    };
    return {
      bind(c: typeof ctl) {
        ctl = c;
      },
      open() {
        if (dialect === 'v1') {
          ctl.push({ type: 'welcome', user, room: q.get('room') ?? chat.DEFAULT_ROOM, worker: model.opts.worker ?? 'sim-w1', shard: '0', protocol: chat.SUBPROTOCOL_V1, limits: {} });
        }
        join(q.get('room') ?? chat.DEFAULT_ROOM, q.get('after') === null ? undefined : Number(q.get('after')));
        ctl.every(model.opts.bgEveryMs, () => model.generate(current).forEach(deliver));
        const first = model.opts.faults?.closeFirst;
        if (first && n === 0) ctl.close(first.code, first.afterMs);
      },
      frame(text: string) {
        const f = JSON.parse(text);
        const said: string | undefined = dialect === 'v1' ? (f.type === 'message' ? f.text : undefined) : f.type === 'chat_message' ? f.content : undefined;
        if (said !== undefined && said.startsWith('/') && !said.startsWith('//')) {
          if (said === '/quit') return ctl.close(1000);
          const msg = /^\/msg (\S+) (.+)$/.exec(said);
          if (msg) return ctl.push(dialect === 'v1' ? { type: 'ack', id: 'uuid', ts: ts(), ref: f.ref } : sys(`direct message sent to ${msg[1]}`));
          return ctl.push(dialect === 'v1' ? { type: 'error', code: 'unknown_command', message: 'x', ref: f.ref } : sys('error: x', { code: 'unknown_command' }));
        }
        if (said !== undefined) {
          // Others' messages generated up to now get their ids first.
          const pending = model.generate(current);
          const m = model.store(current, user!, said.startsWith('//') ? said.slice(1) : said, sim.now);
          pending.forEach(deliver);
          if (dialect === 'v1') ctl.push({ type: 'ack', id: m.id, room: current, ts: m.ts, ref: f.ref });
          return;
        }
        switch (f.type) {
          case 'join':
          case 'join_room':
            return join(f.room, f.after, f.ref);
          case 'leave':
          case 'leave_room':
            return join(chat.DEFAULT_ROOM, undefined, f.ref);
          case 'direct':
            return ctl.push({ type: 'ack', id: 'uuid', ts: ts(), ref: f.ref });
          case 'ping':
            return ctl.push({ type: 'pong', ts: ts(), ref: f.ref });
          default:
            throw new Error(`the model server got a frame it does not know: ${text}`);
        }
      },
      closed() {
        model.closedIn[n] = current;
      },
    };
  }
}

// ---------------------------------------------------------------- running a VU

interface Sample {
  metric: string;
  type: string;
  value: number;
  tags: Record<string, string>;
}

interface SimState {
  phase: 'init' | 'vu';
  now: number;
  samples: Sample[];
  checks: { name: string; ok: boolean }[];
  sent: string[];
  vu: { idInTest: number; iterationInScenario: number };
  scenario: { startTime: number; iterationInTest: number };
  server: ModelChat;
}

const sim = {} as SimState;
(globalThis as Record<string, unknown>).__k6sim = sim;
let copyDir = '';
let imports = 0;

function copyTree(from: string, to: string, stubUrls: Record<string, string>): void {
  mkdirSync(to, { recursive: true });
  for (const f of readdirSync(from)) {
    const src = path.join(from, f);
    if (statSync(src).isDirectory()) copyTree(src, path.join(to, f), stubUrls);
    else if (f.endsWith('.js')) {
      const text = readFileSync(src, 'utf8').replace(/from '(k6(?:\/[a-z]+)?)'/g, (m, spec: string) => {
        if (!stubUrls[spec]) throw new Error(`no stand-in for ${spec}`);
        return `from '${stubUrls[spec]}'`;
      });
      writeFileSync(path.join(to, f), text);
    }
  }
}

beforeAll(() => {
  copyDir = mkdtempSync(path.join(os.tmpdir(), 'cf-k6sim-'));
  const urls: Record<string, string> = {};
  for (const [spec, code] of Object.entries(STUBS)) {
    const file = path.join(copyDir, 'stubs', `${spec.replace('/', '-')}.mjs`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, code);
    urls[spec] = file;
  }
  copyTree(K6_DIR, path.join(copyDir, 'k6'), urls);
});

afterAll(() => {
  rmSync(copyDir, { recursive: true, force: true });
});

interface Script {
  options: { scenarios: Record<string, Record<string, unknown>>; thresholds: Record<string, string[]> };
  setup?: () => unknown;
  default: (data: unknown) => void;
}

/** Runs a script's init context (as k6 does once per VU) with these -e parameters. */
async function load(script: string, env: Record<string, string> = {}): Promise<Script> {
  (globalThis as Record<string, unknown>).__ENV = env;
  sim.phase = 'init';
  return (await import(`${pathToFileURL(path.join(copyDir, 'k6', script)).href}?i=${imports++}`)) as Script;
}

interface Run {
  script: Script;
  samples: Sample[];
  checks: { name: string; ok: boolean }[];
  sent: string[];
  server: ModelChat;
  /** Sum of a metric's values, optionally of the samples with these tags only. */
  sum(metric: string, tags?: Record<string, string>): number;
  count(metric: string, tags?: Record<string, string>): number;
  values(metric: string, tags?: Record<string, string>): number[];
}

/** A small deterministic PRNG (mulberry32), so that every simulated run is the same run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One VU of a script: init, setup, one iteration of the default function, on the virtual clock and a seeded Math.random. */
async function runVU(
  script: string,
  opts: { env?: Record<string, string>; vu?: number; iteration?: number; seed?: number; server?: ModelChat | ConstructorParameters<typeof ModelChat>[0] } = {},
): Promise<Run> {
  const mod = await load(script, opts.env);
  const server = opts.server instanceof ModelChat ? opts.server : new ModelChat(opts.server ?? { bgEveryMs: 500, bgWorker: 'sim-w2' });
  Object.assign(sim, {
    now: T0,
    samples: [],
    checks: [],
    sent: [],
    vu: { idInTest: opts.vu ?? 1, iterationInScenario: 0 },
    scenario: { startTime: T0, iterationInTest: opts.iteration ?? 0 },
    server,
  });
  const realNow = Date.now;
  const realRandom = Math.random;
  Date.now = () => sim.now;
  Math.random = seeded(opts.seed ?? 7);
  try {
    sim.phase = 'vu';
    const data = mod.setup ? JSON.parse(JSON.stringify(mod.setup())) : undefined;
    mod.default(data);
  } finally {
    Date.now = realNow;
    Math.random = realRandom;
  }
  const pick = (metric: string, tags?: Record<string, string>) =>
    sim.samples.filter((s) => s.metric === metric && Object.entries(tags ?? {}).every(([k, v]) => s.tags[k] === v));
  return {
    script: mod,
    samples: sim.samples,
    checks: sim.checks,
    sent: sim.sent,
    server,
    sum: (m, t) => pick(m, t).reduce((a, s) => a + s.value, 0),
    count: (m, t) => pick(m, t).length,
    values: (m, t) => pick(m, t).map((s) => s.value),
  };
}

/** What every healthy run shows: all checks passed, every connection got in, no error by code. */
function expectClean(r: Run): void {
  expect(r.checks.filter((c) => !c.ok)).toEqual([]);
  expect(r.checks.length).toBeGreaterThan(0);
  expect(r.values('chat_connect_ok').every((v) => v === 1)).toBe(true);
  expect(r.sum('chat_close_errors')).toBe(0);
  expect(r.sum('chat_server_errors')).toBe(0);
  expect(r.sum('chat_gaps')).toBe(0);
  expect(r.sum('chat_duplicates')).toBe(0);
}

const types = (r: Run) => r.sent.map((s) => JSON.parse(s) as Record<string, unknown>);

// ---------------------------------------------------------------- the scripts

describe('k6 scripts on a simulated k6: init context and options', () => {
  it('connect-storm: arrival stages carry USERS arrivals; every threshold names a metric the scripts record', async () => {
    const s = await load('connect-storm.js', { USERS: '1200', DURATION: '1m' });
    const storm = s.options.scenarios.storm as { executor: string; stages: { duration: string; target: number }[]; maxVUs: number; preAllocatedVUs: number };
    expect(storm.executor).toBe('ramping-arrival-rate');
    expect(storm.stages.map((st) => st.duration)).toEqual(['12s', '36s', '12s']);
    const peak = storm.stages[0].target;
    // Area under the arrival curve: half of each ramp plus the plateau.
    expect(peak * (6 + 36 + 6)).toBeGreaterThanOrEqual(1200);
    expect(peak * (6 + 36 + 6)).toBeLessThan(1200 + 48);
    expect(storm.maxVUs).toBeGreaterThanOrEqual(storm.preAllocatedVUs);
  });

  it.each(['connect-storm.js', 'fanout.js', 'cross-worker.js', 'soak.js'])('%s: thresholds and options are well-formed', async (file) => {
    const s = await load(file);
    const known = /^(chat_[a-z_]+|checks)(\{[a-z_]+:[a-z0-9_]+\})?$/;
    for (const [name, list] of Object.entries(s.options.thresholds)) {
      expect(name).toMatch(known);
      for (const t of list) expect(t).toMatch(/^(p\(\d+\)|count|rate|avg|med|min|max)(<|>|==|<=|>=)[\d.]+$/);
    }
    expect(Object.keys(s.options.scenarios)).toHaveLength(1);
  });

  it('refuses parameters that cannot work, naming them', async () => {
    await expect(load('fanout.js', { RATE: '1000' })).rejects.toThrow(/RATE 1000/);
    await expect(load('fanout.js', { USERS: '5', ROOMS: '4', SENDERS: '3' })).rejects.toThrow(/USERS/);
    await expect(load('cross-worker.js', { DIALECT: 'original' })).rejects.toThrow(/DIALECT=v1/);
    await expect(load('soak.js', { DURATION: 'forever' })).rejects.toThrow(/DURATION/);
    await expect(load('connect-storm.js', { DIALECT: 'v3' })).rejects.toThrow(/DIALECT/);
  });

  it('soak: the resume threshold only where resume exists', async () => {
    expect((await load('soak.js')).options.thresholds.chat_resumes).toEqual(['count>0']);
    expect((await load('soak.js', { DIALECT: 'original' })).options.thresholds.chat_resumes).toBeUndefined();
  });
});

describe.each(['v1', 'original'])('k6 scripts on a simulated k6 (%s)', (dialect) => {
  const env = (e: Record<string, string> = {}) => ({ DIALECT: dialect, PREFIX: 'sim', ...e });

  it('connect-storm: even users /quit, odd users close 1000; both get in, say hello, leave cleanly', async () => {
    for (const iteration of [0, 1]) {
      const r = await runVU('connect-storm.js', { env: env({ HOLD: '3s' }), iteration });
      expectClean(r);
      expect(r.count('chat_connect_time')).toBe(1);
      expect(r.server.urls).toEqual([`ws://127.0.0.1:8080/ws?username=sim-${iteration}&room=sim-room-${iteration % 10}`]);
      const said = types(r).map((f) => (f.text ?? f.content) as string);
      expect(chat.parseStamp(said[0])).not.toBeNull();
      expect(said.includes('/quit')).toBe(iteration === 0);
    }
  });

  it('with AUTH_SECRET every connection carries an HS256 token for its own name, which jose accepts', async () => {
    const secret = 'k6-simulated-secret-of-at-least-32-chars';
    const r = await runVU('connect-storm.js', { env: env({ HOLD: '3s', AUTH_SECRET: secret, TOKEN_TTL: '10m' }), iteration: 1 });
    expectClean(r);
    const offered = r.server.protocols[0].split(',').map((p) => p.trim());
    const jwt = dialect === 'v1' ? offered.find((p) => p.startsWith('chatfabric.auth.'))?.slice('chatfabric.auth.'.length) : r.server.authorizations[0].replace(/^Bearer /, '');
    expect(jwt).toBeTruthy();
    const { payload, protectedHeader } = await jwtVerify(jwt!, new TextEncoder().encode(secret), { algorithms: ['HS256'], currentDate: new Date(sim.now) });
    expect(protectedHeader.alg).toBe('HS256');
    expect(payload.sub).toBe('sim-1');
    expect(payload.exp! - payload.iat!).toBe(600);
    // Without the secret, no credentials at all.
    const plain = await runVU('connect-storm.js', { env: env({ HOLD: '3s' }), iteration: 1 });
    expect(plain.server.protocols[0]).not.toContain('chatfabric.auth.');
    expect(plain.server.authorizations[0]).toBe('');
  });

  it('fanout: a receiver measures every delivery and finds no gap; a sender sends at its share of RATE', async () => {
    const base = { USERS: '24', ROOMS: '2', SENDERS: '2', RATE: '4', DURATION: '20s', RAMP: '5s' };
    const receiver = await runVU('fanout.js', { env: env(base), vu: 10 });
    expectClean(receiver);
    expect(receiver.sent).toEqual([]);
    const latencies = receiver.values('chat_delivery_latency');
    expect(latencies.length).toBeGreaterThan(40);
    expect(Math.max(...latencies)).toBeLessThanOrEqual(500 + 2);
    expect(receiver.sum('chat_messages_received')).toBe(latencies.length);

    const sender = await runVU('fanout.js', { env: env(base), vu: 1 });
    expectClean(sender);
    // RATE 4 over 2 rooms x 2 senders: one a second each, for DURATION.
    expect(sender.sum('chat_messages_sent')).toBeGreaterThanOrEqual(19);
    expect(sender.sum('chat_messages_sent')).toBeLessThanOrEqual(21);
    const stamps = types(sender).map((f) => chat.parseStamp(f.text ?? f.content));
    expect(stamps.every((s) => s !== null && s.sentAt >= T0 + 5000 + 3000 && s.sentAt < T0 + 5000 + 3000 + 20000)).toBe(true);
  });

  it('fanout: a message nobody receives shows as one gap', async () => {
    // A server whose id counter jumps once mid-test: that id never reaches anyone.
    const lossy = new ModelChat({ bgEveryMs: 400, bgWorker: 'sim-w2' });
    const generate = lossy.generate.bind(lossy);
    let skipped = false;
    lossy.generate = (name: string) => {
      const out = generate(name);
      if (!skipped && sim.now > T0 + 8000 && out.length) {
        skipped = true;
        lossy.room(name).next++;
      }
      return out;
    };
    const r = await runVU('fanout.js', { env: env({ USERS: '4', ROOMS: '1', SENDERS: '1', RATE: '1', DURATION: '10s', RAMP: '1s' }), vu: 3, server: lossy });
    expect(skipped).toBe(true);
    expect(r.sum('chat_gaps')).toBe(1);
    expect(r.sum('chat_duplicates')).toBe(0);
  });

  it('soak: reconnects resume, users move and send direct messages, and nothing is lost or doubled', async () => {
    const r = await runVU('soak.js', {
      env: env({ USERS: '4', ROOMS: '3', RATE: '4', DURATION: '90s', SESSION: '20s', PAUSE: '2s', CHURN: '7s', DM_SHARE: '0.3', RAMP: '1s' }),
      vu: 2,
    });
    expectClean(r);
    const reconnects = r.server.urls.slice(1);
    expect(reconnects.length).toBeGreaterThanOrEqual(3);
    // Each reconnect goes back to the room the user was in when it dropped, wherever that was.
    const rooms = reconnects.map((u) => new URL(u).searchParams.get('room'));
    expect(rooms).toEqual(r.server.closedIn.slice(0, reconnects.length));
    expect(new Set(r.server.closedIn).size).toBeGreaterThan(1);
    // The session token is in the handshake headers (v1), never in the URL.
    for (const url of r.server.urls) expect(url).not.toMatch(/session=/);
    for (const offered of r.server.protocols) {
      if (dialect === 'v1') expect(offered).toMatch(/^chatfabric\.v1, chatfabric\.session\.sim-1-[A-Za-z0-9]{16}$/);
      else expect(offered).toBe('');
    }
    const sent = types(r).map((f) => f.type);
    expect(sent).toEqual(expect.arrayContaining(dialect === 'v1' ? ['message', 'direct', 'join', 'leave'] : ['chat_message', 'join_room', 'leave_room']));
    expect(r.sum('chat_direct_ok')).toBeGreaterThan(0);
    expect(r.count('chat_delivery_latency')).toBeGreaterThan(50);
    if (dialect === 'v1') {
      for (const url of reconnects) expect(url).toMatch(/[?&]after=\d+/);
      expect(r.sum('chat_resumes')).toBe(reconnects.length);
      // Background traffic went on while the user was away; the resumes brought it back.
      expect(r.count('chat_connect_time', { resume: 'true' })).toBe(reconnects.length);
    } else {
      for (const url of r.server.urls) expect(url).not.toMatch(/after=/);
      expect(r.sum('chat_resumes')).toBe(0);
    }
  });

  it('soak: a server close the client may retry is counted by code and followed by a reconnect', async () => {
    const r = await runVU('soak.js', {
      env: env({ USERS: '2', ROOMS: '1', RATE: '1', DURATION: '40s', SESSION: '30s', RAMP: '1s' }),
      server: { bgEveryMs: 500, bgWorker: 'sim-w2', faults: { closeFirst: { code: 4003, afterMs: 5000 } } },
    });
    expect(r.sum('chat_close_errors')).toBe(1);
    expect(r.count('chat_close_errors', { code: '4003' })).toBe(1);
    expect(r.server.urls.length).toBeGreaterThanOrEqual(2);
    expect(r.sum('chat_gaps')).toBe(0);
  });

  it('soak: a close that must not be retried ends the user', async () => {
    // Sessions of 5-15 s: without the 4005 at 2 s there would be several connections.
    const r = await runVU('soak.js', {
      env: env({ USERS: '2', ROOMS: '1', RATE: '1', DURATION: '40s', SESSION: '10s', RAMP: '1s' }),
      server: { bgEveryMs: 500, bgWorker: 'sim-w2', faults: { closeFirst: { code: 4005, afterMs: 2000 } } },
    });
    expect(r.count('chat_close_errors', { code: '4005' })).toBe(1);
    expect(r.server.urls).toHaveLength(1);
  });
});

describe('k6 scripts on a simulated k6: what the resume checks catch (v1)', () => {
  const env = { PREFIX: 'sim', USERS: '4', ROOMS: '1', RATE: '2', DURATION: '60s', SESSION: '15s', PAUSE: '3s', CHURN: '1h', RAMP: '1s' };

  it('a resume history that leaves a message out is a gap', async () => {
    const r = await runVU('soak.js', { env, server: { bgEveryMs: 300, bgWorker: 'sim-w2', faults: { dropOnResume: true } } });
    expect(r.sum('chat_resumes')).toBeGreaterThan(0);
    expect(r.sum('chat_gaps')).toBe(r.sum('chat_resumes'));
    expect(r.sum('chat_duplicates')).toBe(0);
  });

  it('a message both in the resume history and live is a duplicate', async () => {
    const r = await runVU('soak.js', { env, server: { bgEveryMs: 300, bgWorker: 'sim-w2', faults: { repeatOnResume: true } } });
    expect(r.sum('chat_resumes')).toBeGreaterThan(0);
    expect(r.sum('chat_duplicates')).toBe(r.sum('chat_resumes'));
    expect(r.sum('chat_gaps')).toBe(0);
  });
});

describe('k6 scripts on a simulated k6: cross-worker', () => {
  const env = { PREFIX: 'sim', USERS: '8', ROOMS: '1', SENDERS: '2', RATE: '2', DURATION: '15s', RAMP: '2s' };

  it('tags deliveries from another worker same_worker=false and counts them', async () => {
    const r = await runVU('cross-worker.js', { env, vu: 5, server: { bgEveryMs: 250, bgWorker: 'sim-w2', worker: 'sim-w1' } });
    expectClean(r);
    expect(r.count('chat_delivery_latency', { same_worker: 'false' })).toBeGreaterThan(40);
    expect(r.count('chat_delivery_latency', { same_worker: 'true' })).toBe(0);
    expect(r.sum('chat_cross_worker_deliveries')).toBe(r.count('chat_delivery_latency'));
  });

  it('tags deliveries from the same worker same_worker=true; URLS spreads users over workers', async () => {
    const r = await runVU('cross-worker.js', {
      env: { ...env, URLS: 'ws://127.0.0.1:9001/ws, ws://127.0.0.1:9002/ws' },
      vu: 2,
      server: { bgEveryMs: 250, bgWorker: 'sim-w1', worker: 'sim-w1' },
    });
    expectClean(r);
    expect(r.server.urls[0]).toMatch(/^ws:\/\/127\.0\.0\.1:9002\/ws\?username=sim-1&/);
    expect(r.count('chat_delivery_latency', { same_worker: 'true' })).toBeGreaterThan(40);
    expect(r.sum('chat_cross_worker_deliveries')).toBe(0);
  });
});
