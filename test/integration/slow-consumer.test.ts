/**
 * The slow-consumer bound against a real worker: a client that stops reading and keeps asking
 * for a room's full history (re-syncs with `after: 0`, and more connections opened with
 * `?room=R&after=0`) must not grow the worker's memory. The worker's RSS is read from
 * /proc/<pid>/status while the attack runs.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { connect, connectV1, type Frame, type TestClient } from '../support/client';
import { uniquePrefix } from '../support/prefix';
import { waitUntil } from '../support/servers';
import { startWorker, type WorkerHandle } from '../support/worker';

const ROOM = 'sc_big';
const HISTORY_SIZE = 1000;
/** 2000 code points of 2 bytes each: a full history frame is about 4 MB. */
const TEXT = 'é'.repeat(2000);
/** Re-syncs the attacker sends: about 400 MB of history if each one were queued. */
const RESYNCS = 100;
/** More paused connections, each asking for the full history once in its URL. */
const PAUSED_CONNECTIONS = 4;
/** Growth of the worker's RSS allowed during the attack (the unfixed worker grew by hundreds of MB). */
const RSS_GROWTH_BOUND_MB = 150;

/** The worker's resident set size in MB. */
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) / 1024;
}

/** The value of chatfabric_closes_total for one close code on the worker's /metrics. */
async function closesWith(w: WorkerHandle, code: number): Promise<number> {
  const text = await (await fetch(`${w.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('chatfabric_closes_total{') && l.includes(`code="${code}"`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

/** Stops reading from the socket: what the server sends piles up in its queue. */
function pauseReading(c: TestClient): void {
  (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
}

describe('a paused reader asking for history again and again', () => {
  let w: WorkerHandle;
  const clients: TestClient[] = [];
  const track = <T extends TestClient>(c: T): T => (clients.push(c), c);

  beforeAll(async () => {
    w = await startWorker({
      natsUrl: inject('natsUrl'),
      redisUrl: inject('redisUrl'),
      prefix: uniquePrefix('slowcons'),
      id: 'slowcons',
      // Fast enough to fill the history in a moment; the attack itself stays far below it.
      // A room full of the longest messages, as before history had a byte bound: the per-connection
      // cap must hold however much history a room keeps.
      env: { HISTORY_SIZE: String(HISTORY_SIZE), HISTORY_MAX_BYTES: String(16 * 1024 * 1024), RATE_LIMIT_PER_SEC: '1000', RATE_LIMIT_BURST: '1000' },
    });
    const filler = track(await connectV1(w.wsUrl, 'sc_filler', { room: ROOM }));
    for (let i = 0; i < HISTORY_SIZE; i++) filler.send({ type: 'message', text: TEXT, ref: i });
    await filler.waitFor((f) => f.type === 'ack' && f.ref === HISTORY_SIZE - 1, { timeoutMs: 60_000, what: 'the last ack' });
    await filler.close();
  }, 90_000);

  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') console.log(`--- ${w.id} logs\n${w.logs.slice(-30).join('\n')}`);
  });

  afterAll(async () => {
    for (const c of clients) c.terminate();
    await w?.stop();
  });

  it('keeps the worker RSS bounded and closes the attacker with 4003', async () => {
    const observer = track(await connectV1(w.wsUrl, 'sc_observer'));
    const before = rssMb(w.pid);
    const closesBefore = await closesWith(w, 4003);
    let peak = before;
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, rssMb(w.pid));
      } catch {
        // the worker is gone; the assertions below say so
      }
    }, 100);
    try {
      const attacker = track(await connect(w.wsUrl, 'sc_attacker', { v1: true, room: ROOM, after: 0 }));
      pauseReading(attacker);
      const paused = await Promise.all(
        Array.from({ length: PAUSED_CONNECTIONS }, async (_, i) => {
          const c = track(await connect(w.wsUrl, `sc_paused${i}`, { v1: true, room: ROOM, after: 0 }));
          pauseReading(c);
          return c;
        }),
      );
      // When the worker cuts the attacker off, measured from its first re-sync.
      const start = Date.now();
      let cutAfterMs: number | null = null;
      const watcher = setInterval(async () => {
        if (cutAfterMs === null && (await closesWith(w, 4003).catch(() => 0)) > closesBefore) cutAfterMs = Date.now() - start;
      }, 100);
      // 20 re-syncs a second: within the default rate limit, as in the reported attack.
      for (let i = 0; i < RESYNCS && attacker.ws.readyState === attacker.ws.OPEN; i++) {
        attacker.send({ type: 'join', room: ROOM, after: 0, ref: i });
        await sleep(50);
      }
      // Give the worker time to run what it accepted before judging.
      await waitUntil(async () => (await closesWith(w, 4003)) > closesBefore, 30_000, 'a 4003 close').catch(() => undefined);
      await sleep(2000);
      clearInterval(watcher);
      const during = peak;
      console.log(
        `slow consumer: worker RSS ${before.toFixed(1)} MB before, peak ${during.toFixed(1)} MB during the attack (+${(during - before).toFixed(1)} MB), ` +
          `${RESYNCS} re-syncs of a ${HISTORY_SIZE}-message history sent, attacker closed with 4003 ${cutAfterMs ?? '(never)'} ms after the first, ` +
          `RSS ${rssMb(w.pid).toFixed(1)} MB after`,
      );
      expect(w.proc.exitCode, 'the worker is alive').toBeNull();
      expect(during - before, `RSS growth (before ${before.toFixed(1)} MB, peak ${during.toFixed(1)} MB)`).toBeLessThan(RSS_GROWTH_BOUND_MB);
      expect(await closesWith(w, 4003)).toBeGreaterThan(closesBefore);
      // The attacker is gone from the room; the paused connections that asked once are not cut
      // for it (one history frame is allowed on top of the limit).
      const ref = 'sc_users';
      const users = await observer.request({ type: 'users', room: ROOM, ref }, (f: Frame) => f.ref === ref);
      expect(users.users).not.toContain('sc_attacker');
      expect(users.users).toEqual(expect.arrayContaining(paused.map((c) => c.username)));
      // Everyone else is served as usual, and a reader that reads gets the whole history.
      const reader = track(await connectV1(w.wsUrl, 'sc_reader', { room: ROOM, after: 0 }));
      const h = reader.ofType('history')[0];
      expect(h.messages).toHaveLength(HISTORY_SIZE);
      expect(h.gap).toBeNull();
      const pong = await reader.request({ type: 'ping', ref: 'p' }, (f) => f.type === 'pong');
      expect(pong.ref).toBe('p');
    } finally {
      clearInterval(sampler);
    }
  }, 120_000);
});

describe('a history larger than the hard cap leaves', () => {
  const BUFFERED = 64 * 1024;
  const QUEUED = 256 * 1024;
  let w: WorkerHandle;
  const clients: TestClient[] = [];
  const track = <T extends TestClient>(c: T): T => (clients.push(c), c);

  beforeAll(async () => {
    w = await startWorker({
      natsUrl: inject('natsUrl'),
      redisUrl: inject('redisUrl'),
      prefix: uniquePrefix('slowcap'),
      id: 'slowcap',
      env: { MAX_BUFFERED_BYTES: String(BUFFERED), MAX_QUEUED_BYTES: String(QUEUED), RATE_LIMIT_PER_SEC: '1000', RATE_LIMIT_BURST: '1000' },
    });
  });

  afterAll(async () => {
    for (const c of clients) c.terminate();
    await w?.stop();
  });

  it('is cut to its newest messages, the rest reported as a gap, and the reader stays connected', async () => {
    const count = 200; // about 800 KB of history, over three times what the cap leaves
    const filler = track(await connectV1(w.wsUrl, 'cap_filler', { room: 'cap' }));
    for (let i = 0; i < count; i++) filler.send({ type: 'message', text: TEXT, ref: i });
    await filler.waitFor((f) => f.type === 'ack' && f.ref === count - 1, { timeoutMs: 30_000, what: 'the last ack' });

    const reader = track(await connectV1(w.wsUrl, 'cap_reader', { room: 'cap', after: 0 }));
    const raw = reader.raw.find((r) => r.startsWith('{"type":"history"'))!;
    expect(Buffer.byteLength(raw)).toBeLessThanOrEqual(QUEUED - BUFFERED);
    const h = reader.ofType('history')[0];
    const ids = h.messages.map((m: Frame) => m.id);
    expect(ids.length).toBeGreaterThan(10);
    expect(ids.length).toBeLessThan(count);
    expect(ids.at(-1)).toBe(count);
    expect(h.gap).toEqual({ from: 1, to: ids[0] - 1 });

    // A re-sync after reading it is answered the same way, and live traffic follows.
    const again = await reader.request({ type: 'join', room: 'cap', after: 0, ref: 'again' }, (f) => f.type === 'history' && f.ref === 'again');
    expect(again.gap).toEqual(h.gap);
    filler.send({ type: 'message', text: 'after the cut' });
    await reader.waitFor((f) => f.type === 'message' && f.text === 'after the cut');
    expect(reader.closeCode).toBeNull();
  }, 60_000);
});
