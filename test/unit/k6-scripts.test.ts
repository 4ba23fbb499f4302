/**
 * The k6 scripts under loadtest/k6/, which cannot run here (k6 is not installed):
 * 1. their lint: every script type-checked against @types/k6 with the TypeScript compiler, and a
 *    proof that the check bites (a misspelt socket method or import fails it);
 * 2. protocol conformance: the frames lib/chat.js builds are what the server's own parser
 *    (parseRequest) reads as the intended request, in both dialects, and the URLs it builds pass
 *    the server's own upgrade checks (the real createServer, with a stub node behind it);
 * 3. the pure parts of lib/: the id tracker, names, parameters, the classifier on the frames
 *    docs/protocol.md shows. test/integration/k6-scripts.test.ts drives a real worker with them.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import pino from 'pino';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as chat from '../../loadtest/k6/lib/chat.js';
import * as params from '../../loadtest/k6/lib/params.js';
import { loadConfig } from '../../src/config';
import { Metrics } from '../../src/metrics';
import type { ChatNode } from '../../src/node';
import {
  AUTH_PROTOCOL_PREFIX,
  offeredProtocols,
  parseRequest,
  RECONNECT_CODES,
  ROOM_PATTERN,
  SESSION_PATTERN,
  SESSION_PROTOCOL_PREFIX,
  SUBPROTOCOL_V1,
  USERNAME_PATTERN,
  type Dialect,
  type Request,
} from '../../src/protocol';
import { createServer } from '../../src/server';

const ROOT = path.resolve(__dirname, '../..');
const K6_DIR = path.join(ROOT, 'loadtest', 'k6');
const SCRIPTS = ['connect-storm.js', 'fanout.js', 'cross-worker.js', 'soak.js'];
const DIALECTS = ['v1', 'original'] as const;
type K6Dialect = (typeof DIALECTS)[number];
const serverDialect = (d: K6Dialect): Dialect => (d === 'v1' ? 'v1' : 'legacy');

function jsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? jsFiles(p) : p.endsWith('.js') ? [p] : [];
  });
}

// ---------------------------------------------------------------- 1. the lint

// k6 has a console (log, info, warn, error, debug) but @types/k6 does not declare one, and the
// DOM or Node typings would bring in far more than k6 has; so the check declares just that.
const CONSOLE_DTS = path.join(K6_DIR, '__k6-console__.d.ts');
const CONSOLE_DECL = `declare var console: {
  log(...args: unknown[]): void; info(...args: unknown[]): void; warn(...args: unknown[]): void;
  error(...args: unknown[]): void; debug(...args: unknown[]): void;
};\n`;

const COMPILER_OPTIONS: ts.CompilerOptions = {
  allowJs: true,
  checkJs: true,
  noEmit: true,
  strict: true,
  noUnusedLocals: true,
  noImplicitReturns: true,
  noFallthroughCasesInSwitch: true,
  // What k6 v0.48 and later run: ES2020 and ES modules, and nothing of the DOM or Node.
  target: ts.ScriptTarget.ES2020,
  lib: ['lib.es2020.d.ts'],
  module: ts.ModuleKind.ES2020,
  moduleResolution: ts.ModuleResolutionKind.Node10,
  types: ['k6'],
  typeRoots: [path.join(ROOT, 'node_modules', '@types')],
  skipLibCheck: true,
};

/** Type-checks the scripts; `replace` substitutes a file's text (to prove that mistakes fail). */
function typeCheck(files: string[], replace: Record<string, string> = {}): ts.Diagnostic[] {
  const host = ts.createCompilerHost(COMPILER_OPTIONS);
  const virtual: Record<string, string> = { [CONSOLE_DTS]: CONSOLE_DECL, ...replace };
  const { fileExists, readFile, getSourceFile } = host;
  host.fileExists = (f) => f in virtual || fileExists.call(host, f);
  host.readFile = (f) => virtual[f] ?? readFile.call(host, f);
  host.getSourceFile = (f, lang, onError, create) =>
    f in virtual ? ts.createSourceFile(f, virtual[f], lang, true) : getSourceFile.call(host, f, lang, onError, create);
  const program = ts.createProgram([...files, CONSOLE_DTS], COMPILER_OPTIONS, host);
  return [...ts.getPreEmitDiagnostics(program)];
}

function format(diags: ts.Diagnostic[]): string {
  return ts.formatDiagnostics(diags, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => ROOT, getNewLine: () => '\n' });
}

/** The module specifiers a file imports. */
function importsOf(file: string): string[] {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2020, true, ts.ScriptKind.JS);
  return sf.statements.filter(ts.isImportDeclaration).map((d) => (d.moduleSpecifier as ts.StringLiteral).text);
}

describe('k6 scripts: lint (type-check against @types/k6)', () => {
  const files = jsFiles(K6_DIR);

  it('finds every script and the shared modules', () => {
    const names = files.map((f) => path.relative(K6_DIR, f));
    for (const s of SCRIPTS) expect(names).toContain(s);
    expect(names).toEqual(expect.arrayContaining(['lib/chat.js', 'lib/harness.js', 'lib/params.js']));
  });

  it('type-checks with no diagnostics', () => {
    const diags = typeCheck(files);
    expect(format(diags)).toBe('');
  });

  it.each([
    ['a misspelt socket method', 'lib/harness.js', 'socket.send(frame)', 'socket.sendd(frame)', 'sendd'],
    ['an import that k6/metrics does not export', 'lib/harness.js', "import { Counter, Rate, Trend } from 'k6/metrics'", "import { Counter, Rate, Trends } from 'k6/metrics'", 'Trends'],
    ['a misspelt executor option', 'fanout.js', 'iterations: 1,', 'iteration: 1,', 'iteration'],
    ['a socket event k6/ws does not have', 'lib/harness.js', "socket.on('close',", "socket.on('closed',", 'closed'],
    ['a helper chat.js does not export', 'soak.js', '  leaveFrame,\n', '  leaveFrames,\n', 'leaveFrames'],
  ])('fails on %s', (_what, file, from, to, named) => {
    const abs = path.join(K6_DIR, file);
    const text = readFileSync(abs, 'utf8');
    expect(text).toContain(from);
    const diags = typeCheck(files, { [abs]: text.replace(from, to) });
    expect(diags.length).toBeGreaterThan(0);
    expect(format(diags)).toContain(named);
  });

  it('imports only k6 modules and ./lib; lib/chat.js and lib/params.js import nothing', () => {
    const allowed = new Set(['k6', 'k6/ws', 'k6/metrics', 'k6/execution', 'k6/crypto', 'k6/encoding']);
    for (const f of files) {
      for (const spec of importsOf(f)) expect(allowed.has(spec) || spec.startsWith('./'), `${f} imports ${spec}`).toBe(true);
    }
    expect(importsOf(path.join(K6_DIR, 'lib', 'chat.js'))).toEqual([]);
    expect(importsOf(path.join(K6_DIR, 'lib', 'params.js'))).toEqual([]);
  });
});

// ---------------------------------------------------------------- 2. protocol conformance

const LIMITS = { maxFrameBytes: 16384, maxMessageLength: 2000 };
const parse = (frame: string, dialect: K6Dialect): Request => parseRequest(frame, Buffer.byteLength(frame), serverDialect(dialect), LIMITS);
/** The `ref` a v1 request echoes; the original dialect has none. */
const ref = (dialect: K6Dialect, r: string | number) => (dialect === 'v1' ? { ref: r } : {});

describe('k6 lib/chat.js: the frames it builds are the requests the server parses', () => {
  const stamp = chat.stampText({ sentAt: 1732410000123, worker: 'worker a/1', seq: 42 }, 10);

  it.each(DIALECTS)('%s: chat, commands, join, leave, direct', (d) => {
    expect(parse(chat.chatFrame(d, 'hello', 7), d)).toEqual({ kind: 'say', text: 'hello', ...ref(d, 7) });
    expect(parse(chat.chatFrame(d, stamp), d)).toEqual({ kind: 'say', text: stamp });
    // Chat text that looks like a command is said, not run.
    expect(parse(chat.chatFrame(d, '/quit'), d)).toEqual({ kind: 'say', text: '/quit' });
    expect(parse(chat.quitFrame(d), d)).toEqual({ kind: 'quit' });
    expect(parse(chat.commandFrame(d, '/users dev', 'u'), d)).toEqual({ kind: 'users', room: 'dev', ...ref(d, 'u') });
    expect(parse(chat.joinFrame(d, 'dev'), d)).toEqual({ kind: 'join', room: 'dev' });
    expect(parse(chat.joinFrame(d, 'dev', 0, 'j'), d)).toEqual(
      d === 'v1' ? { kind: 'join', room: 'dev', after: 0, ref: 'j' } : { kind: 'join', room: 'dev' },
    );
    expect(parse(chat.joinFrame(d, 'dev-2', 41), d)).toEqual({ kind: 'join', room: 'dev-2', ...(d === 'v1' ? { after: 41 } : {}) });
    expect(parse(chat.leaveFrame(d, 3), d)).toEqual({ kind: 'leave', ...ref(d, 3) });
    expect(parse(chat.directFrame(d, 'bob', 'lunch at one?', 9), d)).toEqual({ kind: 'direct', to: 'bob', text: 'lunch at one?', ...ref(d, 9) });
    expect(parse(chat.directFrame(d, 'bob', stamp), d)).toEqual({ kind: 'direct', to: 'bob', text: stamp });
  });

  it('v1: ping', () => {
    expect(parse(chat.pingFrame(5), 'v1')).toEqual({ kind: 'ping', ref: 5 });
  });

  it('refuses to build frames the server would reject', () => {
    expect(() => chat.joinFrame('v1', 'no.dots')).toThrow();
    expect(() => chat.joinFrame('v1', 'dev', -1)).toThrow();
    expect(() => chat.joinFrame('v1', 'dev', 1.5)).toThrow();
    expect(() => chat.directFrame('v1', 'no spaces', 'x')).toThrow();
    expect(() => chat.commandFrame('v1', 'quit')).toThrow();
  });

  it('the stamp survives the server and parses back', () => {
    const said = parse(chat.chatFrame('v1', stamp), 'v1') as { text: string };
    expect(chat.parseStamp(said.text)).toEqual({ sentAt: 1732410000123, worker: 'worker a/1', seq: 42 });
    expect(chat.parseStamp('k6 t=5 w= n=0')).toEqual({ sentAt: 5, worker: '', seq: 0 });
    expect(chat.parseStamp('hello k6 t=5 w=a n=1')).toBeNull();
    expect(chat.parseStamp(undefined)).toBeNull();
  });

  it('mirrors the server: subprotocol, naming rules, reconnect codes', () => {
    expect(chat.SUBPROTOCOL_V1).toBe(SUBPROTOCOL_V1);
    expect(chat.USERNAME_PATTERN.source).toBe(USERNAME_PATTERN.source);
    expect(chat.ROOM_PATTERN.source).toBe(ROOM_PATTERN.source);
    expect(chat.SESSION_PATTERN.source).toBe(SESSION_PATTERN.source);
    expect([...chat.RECONNECT_CODES].sort()).toEqual([...RECONNECT_CODES].sort());
    expect(chat.subprotocols('v1')).toEqual([SUBPROTOCOL_V1]);
    expect(chat.subprotocols('original')).toEqual([]);
    expect(chat.handshakeHeaders('v1')).toEqual({ 'Sec-WebSocket-Protocol': SUBPROTOCOL_V1 });
    expect(chat.handshakeHeaders('original')).toEqual({});
    expect(chat.SESSION_PROTOCOL_PREFIX).toBe(SESSION_PROTOCOL_PREFIX);
    expect(chat.AUTH_PROTOCOL_PREFIX).toBe(AUTH_PROTOCOL_PREFIX);
    const creds = { session: 'k6-session-0123456789', token: 'aaa.bbb.ccc' };
    expect(chat.subprotocols('v1', creds)).toEqual(offeredProtocols({ v1: true, ...creds }));
    expect(chat.handshakeHeaders('v1', creds)).toEqual({ 'Sec-WebSocket-Protocol': offeredProtocols({ v1: true, ...creds }).join(', ') });
    // The original dialect offers no subprotocol: no session, and the JWT in Authorization.
    expect(chat.subprotocols('original', creds)).toEqual([]);
    expect(chat.handshakeHeaders('original', creds)).toEqual({ Authorization: 'Bearer aaa.bbb.ccc' });
  });

  it('builds valid, distinct names from any prefix', () => {
    for (const prefix of ['k6', 'a very long prefix with spaces and dots...', 'ü', '', 'run_2024-01-01']) {
      const names = [0, 1, 999_999_999_999].map((n) => chat.username(prefix, n));
      for (const n of names) expect(n).toMatch(USERNAME_PATTERN);
      expect(new Set(names).size).toBe(3);
      expect(chat.roomName(prefix, 12345)).toMatch(ROOM_PATTERN);
      expect(chat.sessionToken(prefix, 7)).toMatch(SESSION_PATTERN);
    }
    expect(chat.defaultPrefix(Date.now())).toMatch(/^k6[a-z0-9]{1,6}$/);
    expect(chat.defaultPrefix(1)).not.toBe(chat.defaultPrefix(2));
  });
});

describe('k6 lib/chat.js: the URLs it builds pass the server\'s upgrade checks', () => {
  let server: http.Server;
  let base = '';
  const accepted: { user: string; dialect: string; room?: string; after?: number; session?: string }[] = [];

  beforeAll(async () => {
    // The real HTTP/upgrade handler with a node that only records what the checks let through.
    const node = {
      draining: false,
      connectionCount: 0,
      config: loadConfig({ env: {}, args: [] }),
      accept(ws: WebSocket, p: (typeof accepted)[number]) {
        accepted.push(p);
        ws.close(1000);
      },
    } as unknown as ChatNode;
    server = createServer({
      maxPayloadBytes: 1 << 20,
      maxConnections: 10,
      log: pino({ level: 'silent' }),
      metrics: new Metrics({ worker: 'unit' }),
      worker: 'unit',
      node: () => node,
      readiness: () => ({ ready: true, checks: {} }),
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function upgrade(url: string, protocols: string[]): Promise<(typeof accepted)[number]> {
    const before = accepted.length;
    const ws = new WebSocket(url, protocols);
    await new Promise<void>((resolve, reject) => {
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode} for ${url}`)));
      ws.once('error', reject);
      ws.once('close', () => resolve());
    });
    expect(accepted.length).toBe(before + 1);
    return accepted[accepted.length - 1];
  }

  it.each(DIALECTS)('%s: every query the scripts build is accepted as meant', async (d) => {
    const session = chat.sessionToken('k6run', 3);
    const cases: [chat.ConnectQuery, Record<string, unknown>][] = [
      [{ username: 'k6run-0' }, { user: 'k6run-0' }],
      [{ username: 'k6run-1', room: chat.roomName('k6run', 2) }, { user: 'k6run-1', room: 'k6run-room-2' }],
      [{ username: 'k6run-2', room: 'dev', after: 0 }, { user: 'k6run-2', room: 'dev', after: 0 }],
      [{ username: 'k6run-3', room: 'dev', after: 1234 }, { user: 'k6run-3', room: 'dev', after: 1234, session: d === 'v1' ? session : undefined }],
    ];
    for (const [q, expected] of cases) {
      const got = await upgrade(chat.connectUrl(base, q), chat.subprotocols(d, { session }));
      expect(got).toMatchObject({ ...expected, dialect: serverDialect(d) });
      if (d !== 'v1') expect(got.session).toBeUndefined();
    }
    // A base that already has a query string.
    expect(await upgrade(chat.connectUrl(`${base}?trace=1`, { username: 'k6run-4' }), chat.subprotocols(d))).toMatchObject({ user: 'k6run-4' });
  });

  it('selects v1 from the handshake header alone, as k6/ws sends it', async () => {
    const url = new URL(chat.connectUrl(base.replace('ws:', 'http:'), { username: 'k6hdr' }));
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request(url, {
        headers: {
          Connection: 'Upgrade',
          Upgrade: 'websocket',
          'Sec-WebSocket-Version': '13',
          'Sec-WebSocket-Key': Buffer.from('k6-scripts-test!').toString('base64'),
          ...chat.handshakeHeaders('v1'),
        },
      });
      req.on('upgrade', (r, socket) => {
        socket.destroy();
        resolve(r);
      });
      req.on('response', (r) => reject(new Error(`HTTP ${r.statusCode}`)));
      req.on('error', reject);
      req.end();
    });
    expect(res.statusCode).toBe(101);
    expect(res.headers['sec-websocket-protocol']).toBe(SUBPROTOCOL_V1);
  });

  it('refuses to build a URL the server would refuse', () => {
    expect(() => chat.connectUrl(base, { username: 'a.b' })).toThrow();
    expect(() => chat.connectUrl(base, { username: 'a', room: '' })).toThrow();
    expect(() => chat.connectUrl(base, { username: 'a', after: -1 })).toThrow();
    expect(() => chat.connectUrl(base, { username: 'a', session: 'k6-session-0123456789' } as chat.ConnectQuery)).toThrow(/handshake headers/);
    expect(() => chat.subprotocols('v1', { session: 'short' })).toThrow();
  });
});

// ---------------------------------------------------------------- 3. the pure parts

describe('k6 lib/chat.js: classify() on the frames of docs/protocol.md', () => {
  it('v1', () => {
    const c = (f: unknown) => chat.classify('v1', JSON.stringify(f), 'alice');
    expect(c({ type: 'welcome', user: 'alice', room: 'global', worker: 'worker-a', shard: '0', protocol: 'chatfabric.v1', limits: {} })).toMatchObject({
      kind: 'welcome',
      worker: 'worker-a',
    });
    expect(c({ type: 'joined', room: 'global', users: ['alice'] })).toMatchObject({ kind: 'joined', room: 'global', users: ['alice'] });
    const history = c({
      type: 'history',
      room: 'global',
      messages: [{ room: 'global', from: 'bob', text: 'm4', ts: 'x', id: 4 }],
      gap: { from: 2, to: 3 },
      reset: false,
    });
    expect(history).toMatchObject({ kind: 'history', room: 'global', gap: { from: 2, to: 3 }, reset: false, messages: [{ id: 4, from: 'bob', text: 'm4' }] });
    expect(chat.provesInRoom('v1', history)).toBe(true);
    expect(c({ type: 'message', room: 'global', from: 'bob', text: 'k6 t=10 w=w2 n=3', ts: 'x', id: 2 })).toMatchObject({
      kind: 'message',
      id: 2,
      stamp: { sentAt: 10, worker: 'w2', seq: 3 },
    });
    expect(c({ type: 'ack', id: 2, room: 'global', ts: 'x', ref: 'b1' })).toMatchObject({ kind: 'ack', id: 2, room: 'global', ref: 'b1' });
    expect(c({ type: 'ack', id: null, room: 'global', ts: 'x', ref: 1 })).toMatchObject({ kind: 'ack', id: null });
    expect(c({ type: 'ack', id: '9afa', ts: 'x', ref: 2 })).toMatchObject({ kind: 'direct_ack', id: '9afa', ref: 2 });
    expect(c({ type: 'direct', id: '9afa', from: 'bob', to: 'alice', text: 'lunch?', ts: 'x' })).toMatchObject({ kind: 'direct', from: 'bob', stamp: null });
    expect(c({ type: 'user_joined', room: 'global', user: 'alice', ts: 'x' })).toMatchObject({ kind: 'user_joined', own: true });
    expect(c({ type: 'user_left', room: 'global', user: 'bob', ts: 'x', reason: 'left' })).toMatchObject({ kind: 'user_left', own: false, reason: 'left' });
    expect(c({ type: 'error', code: 'invalid_room', message: 'm', ref: 5 })).toMatchObject({ kind: 'error', code: 'invalid_room', ref: 5 });
    expect(c({ type: 'pong', ts: 'x', ref: 6 })).toMatchObject({ kind: 'pong', ref: 6 });
    expect(c({ type: 'brand_new' }).kind).toBe('unknown');
    expect(chat.classify('v1', 'not json').kind).toBe('invalid');
    expect(chat.classify('v1', '[1,2]').kind).toBe('invalid');
  });

  it('original', () => {
    const sys = (extra: Record<string, unknown>) => ({ type: 'system_message', sender: 'system', timestamp: 'x', room: 'global', ...extra });
    const c = (f: unknown) => chat.classify('original', JSON.stringify(f), 'alice');
    const ownJoin = c(sys({ content: 'alice joined the room global', event: 'user_joined', user: 'alice' }));
    expect(ownJoin).toMatchObject({ kind: 'user_joined', own: true, room: 'global' });
    expect(chat.provesInRoom('original', ownJoin)).toBe(true);
    expect(chat.provesInRoom('original', c(sys({ content: 'bob joined the room global', event: 'user_joined', user: 'bob' })))).toBe(false);
    expect(c(sys({ content: 'bob left the room', event: 'user_left', user: 'bob' }))).toMatchObject({ kind: 'user_left', user: 'bob', own: false });
    expect(c({ type: 'chat_message', sender: 'bob', content: 'k6 t=7 w= n=1', timestamp: 'x', room: 'global', id: 4 })).toMatchObject({
      kind: 'message',
      from: 'bob',
      id: 4,
      stamp: { sentAt: 7, worker: '', seq: 1 },
    });
    expect(c({ type: 'chat_message', sender: 'bob', content: 'hi', timestamp: 'x', room: 'dev', id: null, direct: true, to: 'alice' })).toMatchObject({
      kind: 'direct',
      from: 'bob',
      to: 'alice',
    });
    expect(c(sys({ content: 'direct message sent to bob' }))).toMatchObject({ kind: 'direct_ack', to: 'bob' });
    expect(c(sys({ content: 'error: room "x" has no users', code: 'unknown_room' }))).toMatchObject({
      kind: 'error',
      code: 'unknown_room',
      message: 'room "x" has no users',
    });
    expect(c(sys({ content: 'Users: alice, bob', users: ['alice', 'bob'] }))).toMatchObject({ kind: 'users', users: ['alice', 'bob'] });
    expect(c(sys({ content: 'Rooms: global (2)', rooms: [] })).kind).toBe('rooms');
    expect(c(sys({ content: 'you are already in global' }))).toMatchObject({ kind: 'notice', text: 'you are already in global' });
  });
});

describe('k6 lib/chat.js: the id tracker', () => {
  const history = (room: string, ids: number[], extra: Record<string, unknown> = {}) =>
    ({ kind: 'history', room, messages: ids.map((id) => ({ id, room, from: 'x', text: 't' })), gap: null, reset: false, ...extra }) as chat.ChatEvent;
  const live = (room: string, id: number | null) => ({ kind: 'message', room, id }) as chat.ChatEvent;

  it('a fresh join baselines on its history; out-of-order live ids are neither gaps nor duplicates', () => {
    const t = chat.createTracker();
    t.expect('r', undefined, true);
    expect(t.apply(history('r', [8, 9, 10]))).toMatchObject({ duplicates: 0, settleUpTo: null });
    expect(t.resumeAfter('r')).toBe(10);
    expect(t.apply(live('r', 12)).duplicates).toBe(0);
    expect(t.resumeAfter('r')).toBe(10);
    expect(t.apply(live('r', 11)).duplicates).toBe(0);
    expect(t.resumeAfter('r')).toBe(12);
    expect(t.apply({ kind: 'ack', room: 'r', id: 13 }).duplicates).toBe(0);
    expect(t.resumeAfter('r')).toBe(13);
    expect(t.lostUpTo('r', t.highest('r'))).toBe(0);
  });

  it('counts a second delivery on one join, and counts missing ids once', () => {
    const t = chat.createTracker();
    t.expect('r', undefined, true);
    t.apply(history('r', []));
    expect(t.resumeAfter('r')).toBe(0);
    t.apply(live('r', 1));
    expect(t.apply(live('r', 1)).duplicates).toBe(1);
    t.apply(live('r', 4));
    expect(t.lostUpTo('r', 4)).toBe(2);
    expect(t.lostUpTo('r', 4)).toBe(0);
    expect(t.resumeAfter('r')).toBe(4);
  });

  it('a resume: what came after `after` is new, anything at or below it or repeated is a duplicate', () => {
    const t = chat.createTracker();
    t.expect('r', undefined, true);
    t.apply(history('r', [1, 2]));
    t.apply(live('r', 4)); // 3 still in flight when the connection dropped
    expect(t.resumeAfter('r')).toBe(2);
    t.expect('r', 2, true);
    // History repeats 4, which the earlier connection had: expected, not a duplicate.
    const applied = t.apply(history('r', [3, 4, 5]));
    expect(applied).toMatchObject({ duplicates: 0, settleUpTo: 5 });
    expect(t.lostUpTo('r', 5)).toBe(0);
    expect(t.apply(live('r', 5)).duplicates).toBe(1);
    expect(t.apply(live('r', 2)).duplicates).toBe(1);
    t.expect('r', 5, true);
    expect(t.apply(history('r', [2, 6])).duplicates).toBe(1);
  });

  it('a resume whose history misses ids reports them once settled; a trimmed gap is not a loss', () => {
    const t = chat.createTracker();
    t.expect('r', undefined, true);
    t.apply(history('r', [1]));
    t.expect('r', 1, true);
    const applied = t.apply(history('r', [2, 4]));
    expect(applied.settleUpTo).toBe(4);
    expect(t.lostUpTo('r', applied.settleUpTo!)).toBe(1);

    t.expect('r', 4, true);
    const trimmed = t.apply(history('r', [9, 10], { gap: { from: 5, to: 8 } }));
    expect(trimmed).toMatchObject({ trimmed: 4, duplicates: 0, settleUpTo: 10 });
    expect(t.lostUpTo('r', 10)).toBe(0);
  });

  it('a reset history starts the room over', () => {
    const t = chat.createTracker();
    t.expect('r', undefined, true);
    t.apply(history('r', [50]));
    t.expect('r', 50, true);
    expect(t.apply(history('r', [1, 2], { reset: true }))).toMatchObject({ reset: true, duplicates: 0, settleUpTo: null });
    expect(t.resumeAfter('r')).toBe(2);
  });

  it('original dialect: no history, so the first live id is the baseline', () => {
    const t = chat.createTracker();
    t.expect('r', undefined, false);
    expect(t.resumeAfter('r')).toBeUndefined();
    expect(t.lostUpTo('r', 100)).toBe(0);
    t.apply(live('r', 20));
    t.apply(live('r', 19)); // below the baseline: arrived late, not a loss or a duplicate
    t.apply(live('r', 22));
    expect(t.lostUpTo('r', 22)).toBe(1);
    t.apply(live('r', null));
    // A reconnect without resume: a new baseline, nothing from the first connection counts.
    t.expect('r', undefined, false);
    expect(t.apply(live('r', 40)).duplicates).toBe(0);
    expect(t.lostUpTo('r', 40)).toBe(0);
  });
});

describe('k6 lib/params.js', () => {
  it('reads durations the way k6 writes them', () => {
    expect(params.parseDuration('30s')).toBe(30_000);
    expect(params.parseDuration('1m30s')).toBe(90_000);
    expect(params.parseDuration('2h')).toBe(7_200_000);
    expect(params.parseDuration('250ms')).toBe(250);
    expect(params.parseDuration('1.5s')).toBe(1500);
    expect(params.parseDuration('45')).toBe(45_000);
    for (const bad of ['', 'soon', '5 m', '10x', '-1s']) expect(() => params.parseDuration(bad)).toThrow();
    expect(params.k6Duration(1)).toBe('1s');
    expect(params.k6Duration(90_500)).toBe('91s');
  });

  it('reads numbers with defaults and names the parameter on a bad value', () => {
    const env = { USERS: '500', RATE: '2.5', EMPTY: '', BAD: 'lots', DURATION: '1m' };
    expect(params.intParam(env, 'USERS', 1)).toBe(500);
    expect(params.intParam(env, 'ROOMS', 4)).toBe(4);
    expect(params.intParam(env, 'EMPTY', 4)).toBe(4);
    expect(() => params.intParam(env, 'BAD', 4)).toThrow(/BAD/);
    expect(() => params.intParam(env, 'RATE', 4)).toThrow(/RATE/);
    expect(params.numberParam(env, 'RATE', 1)).toBe(2.5);
    expect(params.durationParam(env, 'DURATION', '30m')).toBe(60_000);
    expect(params.durationParam(env, 'SESSION', '2m')).toBe(120_000);
    expect(() => params.durationParam(env, 'BAD', '1s')).toThrow(/BAD/);
    expect(chat.parseDialect(undefined)).toBe('v1');
    expect(chat.parseDialect('original')).toBe('original');
    expect(chat.parseDialect('legacy')).toBe('original');
    expect(() => chat.parseDialect('v2')).toThrow(/DIALECT/);
  });
});
