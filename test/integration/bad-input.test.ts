/**
 * Every kind of bad input against real workers, in both dialects where it applies. Worker A has
 * small frame, payload and message limits; worker B has a small rate limit and abuse threshold.
 * Soft errors leave the connection up (proved by traffic afterwards); hard ones close it with
 * the documented code. At the end both workers are still alive and serving.
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { connect, connectLegacy, connectV1, type Frame, type TestClient } from '../support/client';
import { uniquePrefix } from '../support/prefix';
import { startWorker, type WorkerHandle } from '../support/worker';

const MAX_FRAME_BYTES = 1024;
const MAX_PAYLOAD_BYTES = 4096;
const MAX_MESSAGE_LENGTH = 100;
const RATE = 5;
const BURST = 5;
const MAX_ERRORS = 12;

const sys = (content: string) => (f: Frame) => f.type === 'system_message' && f.content === content;
/** An error in either dialect. */
const isError = (f: Frame) => f.type === 'error' || (f.type === 'system_message' && typeof f.code === 'string');

let seq = 0;
const uniq = (p: string) => `${p}${++seq}`;

/** Sends one raw payload (string as a text frame, Buffer as a binary frame) and returns the next error. */
async function badFrame(c: TestClient, payload: string | Buffer | object): Promise<Frame> {
  const from = c.frames.length;
  if (Buffer.isBuffer(payload)) c.ws.send(payload, { binary: true });
  else c.send(payload);
  return c.waitFor(isError, { from, what: `an error for ${String(Buffer.isBuffer(payload) ? '<binary>' : JSON.stringify(payload)).slice(0, 80)}` });
}

/** Checks an error frame's shape for the client's dialect. */
function expectCode(c: TestClient, f: Frame, code: string, ref?: string | number): void {
  if (c.ws.protocol) {
    expect(f).toMatchObject({ type: 'error', code });
    expect(typeof f.message).toBe('string');
    if (ref !== undefined) expect(f.ref).toBe(ref);
  } else {
    expect(f).toMatchObject({ type: 'system_message', sender: 'system', code });
    expect(f.content).toMatch(/^error: /);
    expect(typeof f.timestamp).toBe('string');
    expect(typeof f.room).toBe('string');
  }
}

/** Proves the connection still answers requests. */
async function answers(c: TestClient): Promise<void> {
  if (c.ws.protocol) {
    const ref = uniq('p');
    await c.request({ type: 'ping', ref }, (f) => f.type === 'pong' && f.ref === ref);
  } else {
    await c.request({ type: 'list_rooms' }, (f) => f.type === 'system_message' && Array.isArray(f.rooms));
  }
  expect(c.closeCode).toBeNull();
}

/** Sends a chat message in the client's dialect. */
function say(c: TestClient, text: string): void {
  c.send(c.ws.protocol ? { type: 'message', text } : { type: 'chat_message', content: text });
}
const heard = (text: string) => (f: Frame) => (f.type === 'message' && f.text === text) || (f.type === 'chat_message' && f.content === text);

/** The frame's JSON with a "pad" field sized so that the whole frame is exactly `bytes` bytes. */
function frameOfBytes(frame: Frame, bytes: number): string {
  const base = Buffer.byteLength(JSON.stringify({ ...frame, pad: '' }));
  const text = JSON.stringify({ ...frame, pad: 'p'.repeat(bytes - base) });
  expect(Buffer.byteLength(text)).toBe(bytes);
  return text;
}

async function httpStatus(url: string, init?: RequestInit): Promise<{ status: number; body: string }> {
  const res = await fetch(url, init);
  return { status: res.status, body: await res.text() };
}

/** Attempts a WebSocket upgrade and returns the HTTP refusal. */
async function refusal(wsUrl: string, query: string): Promise<{ status: number; body: string }> {
  const err = await connect(wsUrl, null, { query }).then(
    (c) => {
      c.terminate();
      throw new Error(`upgrade with "${query}" was accepted`);
    },
    (e: { status?: number; body?: string }) => e,
  );
  return { status: err.status ?? -1, body: err.body ?? '' };
}

describe('bad input on real workers', () => {
  let a: WorkerHandle; // small frame, payload and message limits
  let b: WorkerHandle; // small rate limit and abuse threshold
  let clients: TestClient[] = [];
  /** One listener per worker, in global, to see what gets through. */
  let earA: TestClient;
  let earB: TestClient;

  const open = async (w: WorkerHandle, dialect: 'v1' | 'legacy', name = uniq(dialect === 'v1' ? 'bv' : 'bl')) => {
    const c = dialect === 'v1' ? await connectV1(w.wsUrl, name) : await connectLegacy(w.wsUrl, name);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    const prefix = uniquePrefix('badinput');
    const common = { natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix };
    [a, b] = await Promise.all([
      startWorker({
        ...common,
        id: 'badA',
        env: { MAX_FRAME_BYTES: String(MAX_FRAME_BYTES), MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD_BYTES), MAX_MESSAGE_LENGTH: String(MAX_MESSAGE_LENGTH) },
      }),
      startWorker({
        ...common,
        id: 'badB',
        env: { RATE_LIMIT_PER_SEC: String(RATE), RATE_LIMIT_BURST: String(BURST), ABUSE_MAX_ERRORS: String(MAX_ERRORS) },
      }),
    ]);
    earA = await connectV1(a.wsUrl, 'earA');
    earB = await connectLegacy(b.wsUrl, 'earB');
  });

  afterEach(async () => {
    await Promise.all(clients.map((c) => c.close()));
    clients = [];
    // A worker that died is itself a failure; show why.
    for (const w of [a, b]) {
      if (w && (w.proc.exitCode !== null || w.proc.signalCode !== null)) {
        throw new Error(`worker ${w.id} exited (${w.proc.exitCode ?? w.proc.signalCode}):\n${w.logs.slice(-40).join('\n')}`);
      }
    }
  });

  afterAll(async () => {
    await Promise.all([earA?.close(), earB?.close()]);
    await Promise.all([a?.stop(), b?.stop()]);
  });

  for (const dialect of ['v1', 'legacy'] as const) {
    describe(`${dialect} dialect`, () => {
      it('answers invalid JSON with bad_json and stays up', async () => {
        const c = await open(a, dialect);
        for (const bad of ['not json', '{"type":', "{'type':'x'}", '{"type":"ping",}', '']) {
          expectCode(c, await badFrame(c, bad), 'bad_json');
        }
        await answers(c);
      });

      it('answers a binary frame with binary_frame and stays up', async () => {
        const c = await open(a, dialect);
        const payload = Buffer.from(JSON.stringify(dialect === 'v1' ? { type: 'message', text: 'bin' } : { type: 'chat_message', content: 'bin' }));
        expectCode(c, await badFrame(c, payload), 'binary_frame');
        expectCode(c, await badFrame(c, Buffer.from([0xff, 0x00, 0x13])), 'binary_frame');
        await answers(c);
        expect(earB.frames.some(heard('bin'))).toBe(false);
      });

      it('answers JSON that is not an object with a string type with invalid_frame', async () => {
        const c = await open(a, dialect);
        for (const bad of ['[]', '"message"', '42', 'null', 'true', '{}', '{"type":5}', '{"type":null}', '{"type":["message"]}']) {
          expectCode(c, await badFrame(c, bad), 'invalid_frame');
        }
        await answers(c);
      });

      it('answers an unknown type with unknown_type (also the other dialect\'s types and prototype names)', async () => {
        const c = await open(a, dialect);
        const otherDialect = dialect === 'v1' ? 'chat_message' : 'message';
        for (const type of ['nope', otherDialect, '__proto__', 'constructor', 'toString', 'hasOwnProperty', '']) {
          const ref = uniq('t');
          const f = await badFrame(c, { type, ref, text: 'x', content: 'x', room: 'global' });
          expectCode(c, f, 'unknown_type', dialect === 'v1' ? ref : undefined);
        }
        await answers(c);
      });

      it('answers an empty or blank message with empty_message', async () => {
        const c = await open(a, dialect);
        // Control characters are stripped first, so a message of only control characters is empty.
        for (const text of ['', '   ', '\n\t ', '\u0007\u001b', ' \u0000\u009b ']) {
          const frame = dialect === 'v1' ? { type: 'message', text, ref: 'e' } : { type: 'chat_message', content: text };
          expectCode(c, await badFrame(c, frame), 'empty_message', dialect === 'v1' ? 'e' : undefined);
        }
        await answers(c);
        // Control characters and whole ANSI escape sequences inside a message are stripped before it goes out.
        say(c, `${dialect}\u0007 bell\u001b[2J and\u001b[1;31m\u009b csi`);
        const got = await earB.waitFor((f) => f.type === 'chat_message' && String(f.content).startsWith(`${dialect} bell`));
        expect(got.content).toBe(`${dialect} bell and csi`);
      });

      it(`answers a message longer than ${MAX_MESSAGE_LENGTH} code points with message_too_long; exactly the limit is delivered`, async () => {
        const c = await open(a, dialect);
        const long = 'a'.repeat(MAX_MESSAGE_LENGTH + 1);
        const frame = dialect === 'v1' ? { type: 'message', text: long, ref: 'l' } : { type: 'chat_message', content: long };
        expectCode(c, await badFrame(c, frame), 'message_too_long', dialect === 'v1' ? 'l' : undefined);
        const emojiLong = '😀'.repeat(MAX_MESSAGE_LENGTH + 1);
        expectCode(c, await badFrame(c, dialect === 'v1' ? { type: 'message', text: emojiLong } : { type: 'chat_message', content: emojiLong }), 'message_too_long');
        // The limit counts code points: 100 emoji (400 bytes) is fine, and reaches the other worker.
        const atLimit = `${dialect}${'😀'.repeat(MAX_MESSAGE_LENGTH - dialect.length)}`;
        say(c, atLimit);
        await earB.waitFor(heard(atLimit));
        expect(earB.frames.some(heard(long))).toBe(false);
      });

      it('answers an invalid room name with invalid_room', async () => {
        const c = await open(a, dialect);
        for (const room of ['bad room', 'a.b', 'dev>', 'r*', 'x'.repeat(65), 'ünï']) {
          const frame = dialect === 'v1' ? { type: 'join', room, ref: 'j' } : { type: 'join_room', room };
          expectCode(c, await badFrame(c, frame), 'invalid_room', dialect === 'v1' ? 'j' : undefined);
          if (!room.includes(' ')) {
            // ("/join bad room" would join "bad": the command takes the first word.)
            const viaSlash = await badFrame(c, dialect === 'v1' ? { type: 'message', text: `/join ${room}` } : { type: 'chat_message', content: `/join ${room}` });
            expectCode(c, viaSlash, 'invalid_room');
          }
          const users = await badFrame(c, dialect === 'v1' ? { type: 'users', room } : { type: 'list_users', room });
          expectCode(c, users, 'invalid_room');
        }
        // Still in global, still chatting.
        say(c, `${dialect} still in global`);
        await earB.waitFor(heard(`${dialect} still in global`));
        // A 64-character name is fine.
        const ok = 'r'.repeat(64);
        if (dialect === 'v1') await c.request({ type: 'join', room: ok, ref: 'ok' }, (f) => f.type === 'joined' && f.ref === 'ok');
        else await c.request({ type: 'join_room', room: ok }, sys(`${c.username} joined the room ${ok}`));
      });

      it('answers an unknown slash command with unknown_command', async () => {
        const c = await open(a, dialect);
        for (const text of ['/frobnicate', '/', '/JOINX dev', '/msgbob hi']) {
          const f = await badFrame(c, dialect === 'v1' ? { type: 'message', text } : { type: 'chat_message', content: text });
          expectCode(c, f, 'unknown_command');
        }
        // Commands are case-insensitive, so /USERS is known.
        if (dialect === 'v1') await c.request({ type: 'message', text: '/USERS', ref: 'U' }, (f) => f.type === 'users' && f.ref === 'U');
        else await c.request({ type: 'chat_message', content: '/USERS' }, (f) => Array.isArray(f.users));
        expect(earB.frames.some((f) => f.type === 'chat_message' && String(f.content).startsWith('/frob'))).toBe(false);
      });

      it(`answers a frame over MAX_FRAME_BYTES with frame_too_large and keeps the connection (a valid message after is delivered)`, async () => {
        const c = await open(a, dialect);
        const big = 'x'.repeat(MAX_FRAME_BYTES + 10);
        const frame = dialect === 'v1' ? { type: 'message', text: big } : { type: 'chat_message', content: big };
        const f = await badFrame(c, frame);
        expectCode(c, f, 'frame_too_large');
        // Just under the hard cap is still soft.
        expectCode(c, await badFrame(c, `{"type":"x","pad":"${'y'.repeat(MAX_PAYLOAD_BYTES - 40)}"}`), 'frame_too_large');
        // The limit is inclusive: exactly MAX_FRAME_BYTES is accepted, one byte more is not.
        const edge = (text: string) => (dialect === 'v1' ? { type: 'message', text } : { type: 'chat_message', content: text });
        expectCode(c, await badFrame(c, frameOfBytes(edge(`${dialect} over edge`), MAX_FRAME_BYTES + 1)), 'frame_too_large');
        c.send(frameOfBytes(edge(`${dialect} at edge`), MAX_FRAME_BYTES));
        await earB.waitFor(heard(`${dialect} at edge`));
        expect(earB.frames.some(heard(`${dialect} over edge`))).toBe(false);
        const after = `${dialect} after frame_too_large`;
        say(c, after);
        expect(await earB.waitFor(heard(after))).toMatchObject({ sender: c.username, room: 'global' });
        await earA.waitFor(heard(after));
        expect(c.closeCode).toBeNull();
      });

      it(`closes with 1009 on a frame over MAX_PAYLOAD_BYTES, announces the leave and frees the name`, async () => {
        const c = await open(a, dialect);
        c.send('z'.repeat(MAX_PAYLOAD_BYTES + 1));
        expect(await c.closed).toBe(1009);
        expect(c.frames.some((f) => f.code === 'frame_too_large')).toBe(false);
        await earB.waitFor(sys(`${c.username} left the room`));
        const again = await open(b, dialect, c.username);
        expect(again.closeCode).toBeNull();
      });
    });
  }

  describe('missing and wrong-typed fields', () => {
    it('v1: answers missing fields with invalid_field', async () => {
      const c = await open(a, 'v1');
      const cases: Frame[] = [
        { type: 'message', ref: 1 },
        { type: 'join', ref: 2 },
        { type: 'join', room: '', ref: 3 },
        { type: 'join', room: null, ref: 4 },
        { type: 'direct', to: 'earA', ref: 5 },
      ];
      for (const frame of cases) expectCode(c, await badFrame(c, frame), 'invalid_field', frame.ref);
      await answers(c);
    });

    it('legacy: answers missing fields with invalid_field', async () => {
      const c = await open(a, 'legacy');
      for (const frame of [{ type: 'chat_message' }, { type: 'chat_message', content: null }, { type: 'join_room' }, { type: 'join_room', room: '' }]) {
        expectCode(c, await badFrame(c, frame), 'invalid_field');
      }
      await answers(c);
    });

    it('v1: answers wrong-typed text and after with invalid_field, echoing the ref', async () => {
      const c = await open(a, 'v1');
      const cases: Frame[] = [
        { type: 'message', text: 5, ref: 'a' },
        { type: 'message', text: ['hi'], ref: 'b' },
        { type: 'message', text: { t: 'hi' }, ref: 'c' },
        { type: 'direct', to: 'earA', text: 7, ref: 'd' },
        { type: 'join', room: 'dev', after: 'x', ref: 'e' },
        { type: 'join', room: 'dev', after: -1, ref: 'f' },
        { type: 'join', room: 'dev', after: 1.5, ref: 'g' },
        { type: 'join', room: 'dev', after: 2 ** 60, ref: 'h' },
      ];
      for (const frame of cases) expectCode(c, await badFrame(c, frame), 'invalid_field', frame.ref);
      await answers(c);
    });

    it('legacy: answers wrong-typed content with invalid_field', async () => {
      const c = await open(a, 'legacy');
      for (const content of [5, true, ['hi'], { t: 'hi' }]) {
        expectCode(c, await badFrame(c, { type: 'chat_message', content }), 'invalid_field');
      }
      await answers(c);
    });

    // codes.ts: invalid_field is for a missing or wrong-typed field, except room and user names,
    // which have their own codes whatever the type.
    it('answers a wrong-typed room with invalid_room and a wrong-typed recipient with invalid_username', async () => {
      const v = await open(a, 'v1');
      for (const frame of [
        { type: 'join', room: 5, ref: 'w1' },
        { type: 'join', room: ['dev'], ref: 'w2' },
        { type: 'users', room: true, ref: 'w3' },
      ]) {
        expectCode(v, await badFrame(v, frame), 'invalid_room', frame.ref);
      }
      for (const frame of [
        { type: 'direct', to: 42, text: 'hi', ref: 'w4' },
        { type: 'direct', to: ['earA'], text: 'hi', ref: 'w5' },
        { type: 'direct', to: { name: 'earA' }, text: 'hi', ref: 'w6' },
      ]) {
        expectCode(v, await badFrame(v, frame), 'invalid_username', frame.ref);
      }
      // A direct frame without "to" is refused as a bad field or a bad name (either is documented).
      const noTo = await badFrame(v, { type: 'direct', text: 'hi', ref: 'w7' });
      expect(noTo.ref).toBe('w7');
      expect(['invalid_field', 'invalid_username']).toContain(noTo.code);
      const l = await open(a, 'legacy');
      for (const frame of [{ type: 'join_room', room: 5 }, { type: 'list_users', room: { name: 'dev' } }]) {
        expectCode(l, await badFrame(l, frame), 'invalid_room');
      }
      await answers(v);
      await answers(l);
      expect(earA.frames.filter((f) => f.type === 'direct')).toEqual([]);
    });
  });

  describe('rate limiting and abuse (worker B)', () => {
    it('v1: drops frames over the rate with rate_limited and keeps the connection', async () => {
      const c = await open(b, 'v1');
      const from = c.frames.length;
      const n = BURST + 6;
      for (let i = 0; i < n; i++) c.send({ type: 'ping', ref: `rl${i}` });
      await c.waitForCount((f) => f.type === 'pong' || (f.type === 'error' && f.code === 'rate_limited'), n);
      const replies = c.frames.slice(from);
      const pongs = replies.filter((f) => f.type === 'pong');
      const limited = replies.filter((f) => f.code === 'rate_limited');
      expect(pongs.length).toBeGreaterThanOrEqual(BURST);
      expect(pongs.length).toBeLessThan(n);
      expect(limited.length).toBe(n - pongs.length);
      expect(limited[0].message).toContain(`${RATE} per second`);
      // The first BURST frames were the ones that went through.
      expect(pongs.slice(0, BURST).map((f) => f.ref)).toEqual(Array.from({ length: BURST }, (_, i) => `rl${i}`));
      expect(c.closeCode).toBeNull();
      // Once the bucket refills, a message goes out and reaches the other worker.
      const text = 'v1 after rate limit';
      await vi.waitFor(
        async () => {
          const ref = uniq('after');
          const r = await c.request({ type: 'message', text, ref }, (f) => f.ref === ref || f.code === 'rate_limited');
          expect(r.type).toBe('ack');
        },
        { timeout: 5000, interval: 1000 / RATE },
      );
      expect(await earA.waitFor(heard(text))).toMatchObject({ from: c.username });
      expect(earA.frames.filter(heard(text))).toHaveLength(1);
    });

    it('legacy: drops chat over the rate with rate_limited and keeps the connection', async () => {
      const c = await open(b, 'legacy');
      const from = c.frames.length;
      const n = BURST + 6;
      for (let i = 0; i < n; i++) c.send({ type: 'chat_message', content: `flood ${i}` });
      const limited = await c.waitForCount((f) => f.code === 'rate_limited', n - BURST - 1);
      expect(limited[0].content).toMatch(/^error: too many frames/);
      // Exactly the accepted ones reached the other worker, in order.
      await earA.waitFor(heard('flood 0'));
      await vi.waitFor(() => {
        const limitedNow = c.frames.slice(from).filter((f) => f.code === 'rate_limited').length;
        expect(earA.frames.filter((f) => f.type === 'message' && String(f.text).startsWith('flood ')).length).toBe(n - limitedNow);
      });
      const got = earA.frames.filter((f) => f.type === 'message' && String(f.text).startsWith('flood ')).map((f) => f.text);
      expect(got.slice(0, BURST)).toEqual(Array.from({ length: BURST }, (_, i) => `flood ${i}`));
      expect(c.closeCode).toBeNull();
      // After a refill the connection chats again.
      await vi.waitFor(
        async () => {
          const mark = c.frames.length;
          const ear = earB.frames.length;
          const text = uniq('legacy after rate limit ');
          c.send({ type: 'chat_message', content: text });
          await Promise.race([
            earB.waitFor(heard(text), { from: ear }),
            c.waitFor((f) => f.code === 'rate_limited', { from: mark }).then(() => {
              throw new Error('still limited');
            }),
          ]);
        },
        { timeout: 5000, interval: 1000 / RATE },
      );
    });

    for (const dialect of ['v1', 'legacy'] as const) {
      it(`${dialect}: closes a connection that keeps sending bad frames with 4002`, async () => {
        const c = await open(b, dialect);
        for (let i = 0; i < MAX_ERRORS + 5; i++) c.send('{oops');
        expect(await c.closed).toBe(4002);
        const errors = c.frames.filter(isError);
        // Every bad frame up to the limit was answered, then the socket closed.
        expect(errors.length).toBe(MAX_ERRORS + 1);
        expect(errors.slice(0, BURST).every((f) => f.code === 'bad_json')).toBe(true);
        expect(errors.slice(BURST).every((f) => f.code === 'rate_limited')).toBe(true);
        // Its leave is announced on the other worker and its name is free again.
        await earA.waitFor((f) => f.type === 'user_left' && f.user === c.username && f.reason === 'disconnected');
        const again = await open(a, dialect, c.username);
        expect(again.closeCode).toBeNull();
      });
    }
  });

  describe('HTTP refusals before the upgrade', () => {
    it('refuses a missing or empty username with 400', async () => {
      const missing = await refusal(a.wsUrl, '');
      expect(missing.status).toBe(400);
      expect(missing.body).toContain('username');
      expect((await refusal(a.wsUrl, 'username=')).status).toBe(400);
      expect((await refusal(b.wsUrl, 'room=dev')).status).toBe(400);
    });

    it('refuses invalid usernames with 400', async () => {
      for (const name of ['bad name', 'a.b', 'x>', 'star*', 'ü', 'n'.repeat(33), 'tab\tname']) {
        const r = await refusal(a.wsUrl, `username=${encodeURIComponent(name)}`);
        expect(r.status, name).toBe(400);
        expect(r.body).toContain('invalid username');
      }
    });

    it('refuses invalid room and after parameters, and invalid or misplaced session tokens, with 400', async () => {
      for (const room of ['bad room', 'a.b', '', 'r'.repeat(65)]) {
        const r = await refusal(b.wsUrl, `username=okname&room=${encodeURIComponent(room)}`);
        expect(r.status, `room=${room}`).toBe(400);
        expect(r.body).toContain('invalid room');
      }
      for (const after of ['abc', '-1', '1.5', '1e400', 'NaN', '9007199254740993', '', '0x10', '1e3', '+5', '%205']) {
        const r = await refusal(b.wsUrl, `username=okname&after=${after}`);
        expect(r.status, `after=${after}`).toBe(400);
        expect(r.body).toContain('invalid after');
      }
      // Sessions are subprotocol values now; one in the URL is refused, valid or not.
      for (const session of ['short', 'a-valid-session-token-0123']) {
        const r = await refusal(a.wsUrl, `username=okname&session=${encodeURIComponent(session)}`);
        expect(r.status, `session=${session}`).toBe(400);
        expect(r.body).toContain('secrets do not go in the URL');
      }
      for (const session of ['short', 'x'.repeat(129), 'dots.are.not.allowed.1234']) {
        const err = await connect(a.wsUrl, 'okname', { v1: true, session }).then(
          (c) => (c.terminate(), { status: 101, body: '' }),
          (e: { status?: number; body?: string }) => ({ status: e.status ?? -1, body: e.body ?? '' }),
        );
        expect(err.status, `chatfabric.session.${session}`).toBe(400);
        expect(err.body).toContain('invalid session');
      }
      // None of that claimed the name.
      const ok = await open(a, 'v1', 'okname');
      expect(ok.closeCode).toBeNull();
    });

    it('answers 404 for a wrong path (HTTP and upgrade) and 426 for GET /ws without an upgrade', async () => {
      for (const path of ['/nope', '/ws/extra', '/WS', '/assets/', '/assets/nope.js']) {
        expect((await httpStatus(`${a.httpUrl}${path}`)).status, path).toBe(404);
      }
      // `/` is the browser client's page (src/web.ts), not a wrong path.
      expect((await httpStatus(`${a.httpUrl}/`)).status).toBe(200);
      const up = await connect(`${b.httpUrl.replace('http', 'ws')}/chat`, 'someone').then(
        (c) => {
          c.terminate();
          return { status: 101 };
        },
        (e: { status?: number }) => e,
      );
      expect(up.status).toBe(404);
      const r = await httpStatus(`${a.httpUrl}/ws?username=plain`);
      expect(r.status).toBe(426);
      expect(JSON.parse(r.body).error).toContain('upgrade');
      expect((await httpStatus(`${b.httpUrl}/ws`)).status).toBe(426);
      expect((await httpStatus(`${a.httpUrl}/healthz`, { method: 'POST' })).status).toBe(405);
    });
  });

  it('also survives a text frame that is not valid UTF-8 (ws closes it with 1007)', async () => {
    const c = await open(a, 'v1');
    c.ws.send(Buffer.from([0x7b, 0xc3, 0x28, 0x7d]), { binary: false });
    expect(await c.closed).toBe(1007);
    await earB.waitFor(sys(`${c.username} left the room`));
  });

  it('leaves both workers alive and serving after all of it', async () => {
    for (const w of [a, b]) {
      expect(w.proc.exitCode).toBeNull();
      expect(w.proc.signalCode).toBeNull();
      const h = await httpStatus(`${w.httpUrl}/healthz`);
      expect(h.status).toBe(200);
      expect(JSON.parse(h.body)).toMatchObject({ status: 'ok', worker: w.id });
      expect((await httpStatus(`${w.httpUrl}/readyz`)).status).toBe(200);
      // No bad input reached an unexpected code path (those log at error or fatal level).
      expect(w.logs.filter((l) => /"level":(50|60)/.test(l))).toEqual([]);
    }
    // The long-lived listeners saw everything and are still connected.
    expect(earA.closeCode).toBeNull();
    expect(earB.closeCode).toBeNull();
    const fresh1 = await open(a, 'v1', 'fresh_a');
    const fresh2 = await open(b, 'legacy', 'fresh_b');
    const ack = await fresh1.request({ type: 'message', text: 'all good', ref: 'fin' }, (f) => f.type === 'ack' && f.ref === 'fin');
    expect(typeof ack.id).toBe('number');
    expect(await fresh2.waitFor(heard('all good'))).toMatchObject({ sender: 'fresh_a', id: ack.id });
    say(fresh2, 'all good back');
    await fresh1.waitFor(heard('all good back'));
  });
});
