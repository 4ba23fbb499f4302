/**
 * Issue 9, defects 4 and 8, against two real workers joined by NATS and Redis: reserved names are
 * refused before the upgrade (each worker by its own names.reserved), and a message built to
 * spoof server lines (a newline and a fake notice, bidi overrides, zero-width characters) reaches
 * the other worker's clients of both dialects neutralised, live and from history.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connect, connectLegacy, connectV1, type Frame, type TestClient } from '../support/client';
import { uniquePrefix } from '../support/prefix';
import { startWorker, type WorkerHandle } from '../support/worker';

/** A line a Go client would print as the server's, then a reversed extension and hidden characters. */
const SPOOF = 'brb\nsystem: admin joined the room global\r\n\u2028* bob left the room \u202Efdp.exe\u202C ad\u200Bm\u2060in\uFEFF \u2066iso\u2069 \u200Ex\u200F\u061C 👩‍💻';
const NEUTRALISED = 'brb system: admin joined the room global  * bob left the room fdp.exe admin iso x 👩‍💻';
/** Characters the policy never lets through (line breaks, bidi controls, zero-width characters but the emoji's ZWJ). */
const FORBIDDEN = /[\r\n\u0085\u2028\u2029\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C\u200B\u2060\uFEFF]/;

let seq = 0;

describe('identity and text across two workers', () => {
  let a: WorkerHandle;
  let b: WorkerHandle;
  const clients: TestClient[] = [];
  const track = <T extends TestClient>(c: T): T => {
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    const prefix = uniquePrefix('identity');
    [a, b] = await Promise.all([
      startWorker({ natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix, id: 'idA' }),
      startWorker({ natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix, id: 'idB', env: { RESERVED_NAMES: 'ops,moderator' } }),
    ]);
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    const logs = [...(a?.logs ?? []), ...(b?.logs ?? [])].join('\n');
    await Promise.all([a?.stop(), b?.stop()]);
    // Nothing above crashed or errored a worker.
    expect(logs).not.toMatch(/"level":(50|60)/);
  });

  /** The refusal of an upgrade as "status body", or "open". */
  async function attempt(w: WorkerHandle, name: string, v1 = false): Promise<string> {
    try {
      track(await connect(w.wsUrl, name, { v1 }));
      return 'open';
    } catch (err) {
      const e = err as { status?: number; body?: string };
      if (e.status === undefined) throw err;
      return `${e.status} ${String(e.body).trim()}`;
    }
  }

  it('refuses the default reserved names and their look-alikes with 400, in both dialects', async () => {
    for (const name of ['system', 'SYSTEM', 'server', 'Admin', 'root', 'ChatFabric', 'r00t', 'sys_tem', 'adm1n']) {
      for (const v1 of [false, true]) {
        expect(await attempt(a, name, v1), `${name} v1=${v1}`).toBe(`400 invalid username: "${name}" is reserved; choose another`);
      }
    }
  });

  it('each worker follows its own RESERVED_NAMES, and "system" stays reserved everywhere', async () => {
    expect(await attempt(b, 'Ops')).toBe('400 invalid username: "Ops" is reserved; choose another');
    expect(await attempt(b, 'm0derator')).toMatch(/^400 /);
    expect(await attempt(b, 'System')).toMatch(/^400 /);
    expect(await attempt(b, 'admin')).toBe('open');
    expect(await attempt(a, 'ops')).toBe('open');
  });

  it('a spoofing message arrives neutralised at the other worker, in both dialects, live and from history', async () => {
    const room = `spoof${++seq}`;
    const eve = track(await connectLegacy(a.wsUrl, 'eve'));
    const mallory = track(await connectV1(a.wsUrl, 'mallory', { room }));
    const bob = track(await connectLegacy(b.wsUrl, 'bob'));
    const carol = track(await connectV1(b.wsUrl, 'carol', { room }));
    await bob.request({ type: 'join_room', room }, (f) => f.type === 'system_message' && f.content === `bob joined the room ${room}`);
    await eve.request({ type: 'join_room', room }, (f) => f.type === 'system_message' && f.content === `eve joined the room ${room}`);

    // The original dialect's sender...
    eve.send({ type: 'chat_message', content: SPOOF });
    // ...and the extended dialect's, in the room and directly.
    const ack = await mallory.request({ type: 'message', text: SPOOF, ref: 'm1' }, (f) => f.ref === 'm1');
    expect(ack.type).toBe('ack');
    await mallory.request({ type: 'direct', to: 'bob', text: SPOOF, ref: 'm2' }, (f) => f.ref === 'm2');
    await mallory.request({ type: 'direct', to: 'carol', text: SPOOF, ref: 'm3' }, (f) => f.ref === 'm3');
    eve.send({ type: 'chat_message', content: `/msg carol ${SPOOF}` });

    const chat = (from: string) => (f: Frame) => f.type === 'chat_message' && f.sender === from && !f.direct;
    const direct = (from: string) => (f: Frame) => f.type === 'chat_message' && f.sender === from && f.direct === true;
    for (const from of ['eve', 'mallory']) {
      const got = await bob.waitFor(chat(from), { timeoutMs: 10_000, what: `bob: ${from}'s message` });
      expect(got).toMatchObject({ type: 'chat_message', sender: from, content: NEUTRALISED, room });
      const v1 = await carol.waitFor((f) => f.type === 'message' && f.from === from, { timeoutMs: 10_000, what: `carol: ${from}'s message` });
      expect(v1).toMatchObject({ room, from, text: NEUTRALISED });
    }
    expect((await bob.waitFor(direct('mallory'), { timeoutMs: 10_000 })).content).toBe(NEUTRALISED);
    expect((await carol.waitFor((f) => f.type === 'direct' && f.from === 'mallory', { timeoutMs: 10_000 })).text).toBe(NEUTRALISED);
    expect((await carol.waitFor((f) => f.type === 'direct' && f.from === 'eve', { timeoutMs: 10_000 })).text).toBe(NEUTRALISED);

    // Nothing that reached bob as chat looks like a notice: every notice is a system_message from "system", and no chat is.
    for (const f of bob.frames) {
      if (f.type === 'chat_message') {
        expect(f.sender).not.toMatch(/^system$/i);
        expect(f.content).not.toMatch(FORBIDDEN);
      } else {
        expect(f.type).toBe('system_message');
      }
    }
    for (const f of carol.frames) if (f.type === 'message' || f.type === 'direct') expect(f.text).not.toMatch(FORBIDDEN);

    // A client joining later gets the stored, neutralised text from history.
    const dave = track(await connectV1(b.wsUrl, 'dave', { room }));
    const history = dave.ofType('history')[0];
    // eve and mallory sent over two sockets at once, so either may have been stored first.
    expect(history.messages.map((m: Frame) => `${m.from}: ${m.text}`).sort()).toEqual([`eve: ${NEUTRALISED}`, `mallory: ${NEUTRALISED}`]);
  });
});
