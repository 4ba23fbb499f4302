/**
 * Contract of the Broker seam (src/broker/types.ts), run against both implementations:
 * - memory: several MemoryBrokers made from one MemoryBus (each broker = one worker);
 * - nats: one real NATS connection per worker, each wrapped in a NatsBroker, all sharing a
 *   subject prefix that is unique to the test.
 *
 * "Nothing arrived" is never asserted after a sleep: the publisher follows the event under test
 * with a fence event on a room every worker watches. NATS (and the memory bus) keep one
 * publisher's order towards one subscriber, so once the fence has arrived anything published
 * before it would have arrived too.
 */
import { connect, type NatsConnection } from 'nats';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import type { DropReason } from '../../src/broker/events';
import type { DropSource } from '../../src/broker/inbound';
import { MemoryBus } from '../../src/broker/memory';
import { NatsBroker } from '../../src/broker/nats';
import type { Broker, RoomEvent, UserEvent } from '../../src/broker/types';
import { uniquePrefix } from '../support/prefix';
import { startNats, type NatsHandle } from '../support/servers';

/** What a stranger on the fabric can do: put any bytes on a room or a worker's route. */
interface Raw {
  publish(room: string, data: Uint8Array): Promise<void>;
  /** Resolves with whether the worker answered "delivered". */
  request(worker: string, data: Uint8Array): Promise<boolean>;
}

type OnDrop = (worker: number, reason: DropReason, source: DropSource) => void;

interface Fixture {
  name: string;
  /** `n` brokers on one fabric, as `n` workers would have: worker ids w1, w2, ... */
  make(n: number, onDrop: OnDrop): Promise<{ brokers: Broker[]; raw: Raw; cleanup(): Promise<void> }>;
}

const enc = new TextEncoder();

const fixtures: Fixture[] = [
  {
    name: 'MemoryBroker',
    async make(n, onDrop) {
      const bus = new MemoryBus();
      const brokers = Array.from({ length: n }, (_, i) => bus.broker(`w${i + 1}`, { onDrop: (reason, source) => onDrop(i, reason, source) }));
      const raw: Raw = { publish: async (room, data) => bus.publishRaw(room, data), request: (worker, data) => bus.sendRaw(worker, data) };
      return { brokers, raw, cleanup: async () => void (await Promise.all(brokers.map((b) => b.close()))) };
    },
  },
  {
    name: 'NatsBroker',
    async make(n, onDrop) {
      const prefix = uniquePrefix('broker');
      const conns: NatsConnection[] = [];
      try {
        for (let i = 0; i <= n; i++) conns.push(await connect({ servers: inject('natsUrl'), name: `contract-${prefix}-${i}` }));
      } catch (err) {
        await Promise.all(conns.map((c) => c.close()));
        throw err;
      }
      const stranger = conns.pop()!;
      const brokers = conns.map(
        (nc, i) => new NatsBroker(nc, { prefix, worker: `w${i + 1}`, requestTimeoutMs: 1000, inbound: { onDrop: (reason, source) => onDrop(i, reason, source) } }),
      );
      await Promise.all(brokers.map((b) => b.ready()));
      const raw: Raw = {
        publish: async (room, data) => stranger.publish(`${prefix}.room.${room}`, data),
        request: async (worker, data) => {
          const reply = await stranger.request(`${prefix}.worker.${Buffer.from(worker).toString('base64url')}`, data, { timeout: 2000 });
          return new TextDecoder().decode(reply.data) === '1';
        },
      };
      return {
        brokers,
        raw,
        cleanup: async () => {
          await Promise.all(brokers.map((b) => b.close()));
          // close() drains; make sure every socket is really gone even if a test closed nothing.
          await Promise.all([...conns, stranger].map((c) => (c.isClosed() ? undefined : c.close())));
        },
      };
    },
  },
];

const FENCE = 'fence';

/** Records what one worker receives; `here` decides what onUserEvent answers. */
class Recorder {
  readonly room: { room: string; event: RoomEvent; payload: Uint8Array }[] = [];
  readonly user: { user: string; event: UserEvent }[] = [];
  readonly drops: string[] = [];
  here: (user: string) => boolean = () => true;
  /** Called before an event is recorded; a throw stands for a handler bug. */
  check: (event: RoomEvent | UserEvent) => void = () => undefined;

  constructor(readonly broker: Broker) {
    broker.setHandlers({
      onRoomEvent: (room, event, payload) => {
        this.check(event);
        this.room.push({ room, event, payload });
      },
      onUserEvent: (user, event) => {
        this.check(event);
        this.user.push({ user, event });
        return this.here(user);
      },
    });
  }

  eventsIn(room: string): RoomEvent[] {
    return this.room.filter((e) => e.room === room).map((e) => e.event);
  }

  fences(): number {
    return this.room.filter((e) => e.room === FENCE).length;
  }
}

let seq = 0;
function chat(room: string, text: string, origin = 'w1'): RoomEvent {
  seq++;
  return { kind: 'message', origin, message: { id: seq, room, from: 'alice', text, ts: new Date(1_700_000_000_000 + seq).toISOString() } };
}

function direct(to: string, text: string): UserEvent {
  return { kind: 'direct', message: { id: `d${++seq}`, from: 'bob', to, text, ts: new Date().toISOString() } };
}

let syncs = 0;
/**
 * Makes sure the fabric has seen every watch/unwatch `r` has issued, using only the public API
 * (watchRoom resolves after a server round trip on that worker's connection).
 */
async function synced(r: Recorder): Promise<void> {
  await r.broker.watchRoom(`sync${++syncs}`);
}

/** Publishes a fence from `from` and waits until every recorder in `to` has seen it. */
async function fence(from: Recorder, to: Recorder[]): Promise<void> {
  const before = to.map((r) => r.fences());
  await from.broker.publish(FENCE, { kind: 'joined', room: FENCE, user: 'fence', ts: new Date().toISOString() });
  await vi.waitFor(() => to.forEach((r, i) => expect(r.fences()).toBe(before[i] + 1)), { timeout: 5000, interval: 10 });
}

describe.each(fixtures)('Broker contract: $name', (fx) => {
  let cleanup: (() => Promise<void>) | null = null;

  afterEach(async () => {
    await cleanup?.();
    cleanup = null;
  });

  let raw: Raw;

  /** Three workers with recorders, all watching the fence room. */
  async function workers(n = 3): Promise<Recorder[]> {
    let recs: Recorder[] = [];
    const made = await fx.make(n, (i, reason, source) => recs[i].drops.push(`${reason} ${source}`));
    cleanup = made.cleanup;
    raw = made.raw;
    recs = made.brokers.map((b) => new Recorder(b));
    for (const r of recs) await r.broker.watchRoom(FENCE);
    return recs;
  }

  it('starts connected', async () => {
    const [w1] = await workers(1);
    expect(w1.broker.status).toBe('connected');
  });

  it('delivers a published event to every watching worker, the publisher included, and not to others', async () => {
    const [w1, w2, w3] = await workers();
    await w1.broker.watchRoom('lobby');
    await w2.broker.watchRoom('lobby');
    await w3.broker.watchRoom('elsewhere');
    const event = chat('lobby', 'hello');
    await w1.broker.publish('lobby', event);
    await fence(w1, [w1, w2, w3]);
    expect(w1.eventsIn('lobby')).toEqual([event]);
    expect(w2.eventsIn('lobby')).toEqual([event]);
    expect(w3.eventsIn('lobby')).toEqual([]);
    expect(w3.room.filter((e) => e.room !== FENCE)).toEqual([]);
  });

  it('delivers an event published by a worker that does not watch the room itself', async () => {
    const [w1, w2] = await workers(2);
    await w2.broker.watchRoom('lobby');
    const event: RoomEvent = { kind: 'left', room: 'lobby', user: 'carol', ts: new Date().toISOString(), reason: 'timeout' };
    await w1.broker.publish('lobby', event);
    await fence(w1, [w1, w2]);
    expect(w2.eventsIn('lobby')).toEqual([event]);
    expect(w1.eventsIn('lobby')).toEqual([]);
  });

  it('calls the handler once per event even when a room is watched twice', async () => {
    const [w1, w2] = await workers(2);
    await w2.broker.watchRoom('lobby');
    await w2.broker.watchRoom('lobby');
    await w1.broker.publish('lobby', chat('lobby', 'once'));
    await fence(w1, [w2]);
    expect(w2.eventsIn('lobby')).toHaveLength(1);
  });

  it('stops delivery after unwatchRoom, for that worker only', async () => {
    const [w1, w2] = await workers(2);
    await w1.broker.watchRoom('lobby');
    await w2.broker.watchRoom('lobby');
    const first = chat('lobby', 'before');
    await w1.broker.publish('lobby', first);
    await fence(w1, [w1, w2]);
    expect(w2.eventsIn('lobby')).toEqual([first]);

    await w2.broker.unwatchRoom('lobby');
    const second = chat('lobby', 'after');
    await w1.broker.publish('lobby', second);
    await fence(w1, [w1, w2]);
    expect(w2.eventsIn('lobby')).toEqual([first]);
    expect(w1.eventsIn('lobby')).toEqual([first, second]);

    // The publisher can stop watching too; the room then reaches nobody.
    await w1.broker.unwatchRoom('lobby');
    await w1.broker.publish('lobby', chat('lobby', 'nobody'));
    await fence(w1, [w1, w2]);
    expect(w1.eventsIn('lobby')).toEqual([first, second]);
    expect(w2.eventsIn('lobby')).toEqual([first]);
  });

  it('keeps rooms apart', async () => {
    const [w1, w2] = await workers(2);
    await w2.broker.watchRoom('a');
    await w2.broker.watchRoom('b');
    const ea = chat('a', 'to a');
    const eb = chat('b', 'to b');
    await w1.broker.publish('a', ea);
    await w1.broker.publish('b', eb);
    await fence(w1, [w2]);
    expect(w2.eventsIn('a')).toEqual([ea]);
    expect(w2.eventsIn('b')).toEqual([eb]);
  });

  it("delivers one room's events in publish order, at the publisher and at another worker", async () => {
    const [w1, w2] = await workers(2);
    await w1.broker.watchRoom('lobby');
    await w2.broker.watchRoom('lobby');
    const sent = Array.from({ length: 200 }, (_, i) => chat('lobby', `m${i}`));
    // Published back to back without awaiting each, as a busy worker would.
    await Promise.all(sent.map((e) => w1.broker.publish('lobby', e)));
    await vi.waitFor(() => expect(w2.eventsIn('lobby')).toHaveLength(200), { timeout: 10_000, interval: 20 });
    await vi.waitFor(() => expect(w1.eventsIn('lobby')).toHaveLength(200), { timeout: 10_000, interval: 20 });
    const texts = (r: Recorder) => r.eventsIn('lobby').map((e) => (e.kind === 'message' ? e.message.text : '?'));
    expect(texts(w2)).toEqual(sent.map((e) => (e.kind === 'message' ? e.message.text : '')));
    expect(texts(w1)).toEqual(texts(w2));
  });

  it('round-trips the payload exactly, unicode and emoji included, and hands over the raw bytes', async () => {
    const [w1, w2] = await workers(2);
    await w2.broker.watchRoom('lobby');
    // Text under the text policy, as workers publish it (docs/protocol.md 2.2): one line, emoji
    // sequences kept; anything else is refused by the receiver.
    const text = 'héllo wörld — 你好, مرحبا, 👩‍👩‍👧‍👦🏳️‍🌈 \u{1F600} "quotes" \\ back slash tab end';
    const event = chat('lobby', text);
    await w1.broker.publish('lobby', event);
    await fence(w1, [w2]);
    const [got] = w2.room.filter((e) => e.room === 'lobby');
    expect(got.event).toEqual(event);
    expect(got.event.kind === 'message' && got.event.message.text).toBe(text);
    expect(JSON.parse(new TextDecoder().decode(got.payload))).toEqual(event);
  });

  it('does not let a receiver mutate what another receiver or the publisher holds', async () => {
    const [w1, w2] = await workers(2);
    await w1.broker.watchRoom('lobby');
    await w2.broker.watchRoom('lobby');
    const event = chat('lobby', 'original');
    await w1.broker.publish('lobby', event);
    await fence(w1, [w1, w2]);
    const [a] = w1.eventsIn('lobby');
    const [b] = w2.eventsIn('lobby');
    if (a.kind === 'message') a.message.text = 'mutated';
    expect(b).toEqual(event);
    expect(event.kind === 'message' && event.message.text).toBe('original');
  });

  describe('sendToWorker', () => {
    it('delivers to the named worker only and resolves true', async () => {
      const [w1, w2, w3] = await workers();
      const event = direct('alice', 'psst 🤫 ñ');
      await expect(w1.broker.sendToWorker('w2', 'alice', event)).resolves.toBe(true);
      expect(w2.user).toEqual([{ user: 'alice', event }]);
      expect(w1.user).toEqual([]);
      expect(w3.user).toEqual([]);
    });

    it('delivers to the sending worker itself', async () => {
      const [w1] = await workers(1);
      const event: UserEvent = { kind: 'replaced', by: 'w1/c9', room: 'global' };
      await expect(w1.broker.sendToWorker('w1', 'alice', event)).resolves.toBe(true);
      expect(w1.user).toEqual([{ user: 'alice', event }]);
    });

    it("resolves false when the worker's handler says the user is not here", async () => {
      const [w1, w2] = await workers(2);
      w2.here = () => false;
      const event = direct('alice', 'anyone?');
      await expect(w1.broker.sendToWorker('w2', 'alice', event)).resolves.toBe(false);
      // The worker was asked (and said no).
      expect(w2.user).toEqual([{ user: 'alice', event }]);
    });

    it('resolves false at once (no timeout, no rejection) for a worker that does not exist', async () => {
      const [w1, w2] = await workers(2);
      const started = Date.now();
      await expect(w1.broker.sendToWorker('w9', 'alice', direct('alice', 'hello?'))).resolves.toBe(false);
      // "No responders", not the 1 s request timeout.
      expect(Date.now() - started).toBeLessThan(900);
      expect(w2.user).toEqual([]);
    });

    it('keeps many concurrent requests apart: each answer belongs to its own request', async () => {
      const [w1, w2, w3] = await workers();
      w2.here = (u) => u.endsWith('even');
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => {
          const user = i % 4 < 2 ? `u${i}even` : `u${i}odd`;
          return w1.broker.sendToWorker(i % 2 ? 'w3' : 'w2', user, direct(user, `m${i}`));
        }),
      );
      expect(results).toEqual(Array.from({ length: 40 }, (_, i) => (i % 2 ? true : i % 4 < 2)));
      expect(w2.user).toHaveLength(20);
      expect(w3.user).toHaveLength(20);
    });
  });

  describe('input from the fabric', () => {
    const bytes = (v: unknown) => enc.encode(typeof v === 'string' ? v : JSON.stringify(v));

    it('drops what does not decode or validate, counts it by reason, and keeps delivering the rest', async () => {
      const [w1, w2] = await workers(2);
      await w2.broker.watchRoom('lobby');
      const good = chat('lobby', 'good');
      const { message } = good as Extract<RoomEvent, { kind: 'message' }>;
      const garbage = [
        '{"kind":"message"}',
        'not json',
        '[1,2]',
        { kind: 'message', origin: 'w1', message: { ...message, room: 'other' } },
        { kind: 'message', origin: 'w1', message: { ...message, text: 'a\u001b[31mred' } },
        { kind: 'message', origin: 'w1', message: { ...message, text: 'x'.repeat(2001) } },
        { kind: 'message', origin: 'w1', message: { ...message, id: 1.5 } },
        { kind: 'message', origin: '', message },
        { kind: 'presence', room: 'lobby', joined: ['ok', 'not ok'], left: [], members: 2, ts: message.ts },
        { kind: 'presence', room: 'lobby', joined: [], left: [], members: 0, ts: message.ts },
        { kind: 'left', room: 'lobby', user: 'carol', ts: message.ts, reason: 'vanished' },
      ];
      for (const g of garbage) await raw.publish('lobby', bytes(g));
      await raw.publish('lobby', new Uint8Array([0xc3, 0x28])); // not UTF-8
      await raw.publish('lobby', bytes(good));
      await fence(w1, [w1, w2]);
      expect(w2.eventsIn('lobby')).toEqual([good]);
      expect(w2.drops.filter((d) => d === 'bad_json room')).toHaveLength(2);
      expect(w2.drops.filter((d) => d === 'invalid room')).toHaveLength(garbage.length - 1);
      expect(w1.drops).toEqual([]); // it does not watch the room
    });

    it('hands on only the fields it knows', async () => {
      const [w1, w2] = await workers(2);
      await w2.broker.watchRoom('lobby');
      const good = chat('lobby', 'plain');
      const { message } = good as Extract<RoomEvent, { kind: 'message' }>;
      await raw.publish('lobby', bytes({ ...good, extra: 1, message: { ...message, type: 'welcome', html: '<b>' } }));
      await fence(w1, [w2]);
      expect(w2.eventsIn('lobby')).toEqual([good]);
    });

    it('a handler that throws loses that one event, not the subscription', async () => {
      const [w1, w2] = await workers(2);
      await w2.broker.watchRoom('lobby');
      w2.check = (e) => {
        if (e.kind === 'message' && e.message.text === 'boom') throw new TypeError('handler bug');
      };
      await w1.broker.publish('lobby', chat('lobby', 'boom'));
      const after = chat('lobby', 'after');
      await w1.broker.publish('lobby', after);
      await fence(w1, [w1, w2]);
      expect(w2.eventsIn('lobby')).toEqual([after]);
      expect(w2.drops).toEqual(['handler_error room']);
      // The route is fine as well.
      await expect(w1.broker.sendToWorker('w2', 'alice', direct('alice', 'still there'))).resolves.toBe(true);
    });

    it("answers garbage on a worker's route with \"not delivered\", counts it, and keeps the route", async () => {
      const [w1, w2] = await workers(2);
      const ok = direct('alice', 'real');
      const { message } = ok as Extract<UserEvent, { kind: 'direct' }>;
      const garbage = [
        'nope',
        { user: 'alice' },
        { user: 'alice', event: { kind: 'direct' } },
        { user: 'alice', event: { kind: 'direct', message: { ...message, to: 'bob' } } },
        { user: 'alice', event: { kind: 'direct', message: { ...message, text: '\u0007' } } },
        { user: 'alice', event: { kind: 'replaced', by: 'w1/c1', room: 'a.b' } },
        { user: 'a b', event: ok },
      ];
      for (const g of garbage) await expect(raw.request('w2', bytes(g)), JSON.stringify(g)).resolves.toBe(false);
      expect(w2.user).toEqual([]);
      expect(w2.drops).toEqual(['bad_json worker', ...Array(garbage.length - 1).fill('invalid worker')]);
      w2.check = (e) => {
        if (e.kind === 'direct' && e.message.text === 'boom') throw new TypeError('handler bug');
      };
      await expect(w1.broker.sendToWorker('w2', 'alice', direct('alice', 'boom'))).resolves.toBe(false);
      expect(w2.drops.at(-1)).toBe('handler_error worker');
      await expect(raw.request('w2', bytes({ user: 'alice', event: ok }))).resolves.toBe(true);
      expect(w2.user).toEqual([{ user: 'alice', event: ok }]);
    });

    it('reports no lost subscriptions while everything is as asked, watched, unwatched or closed', async () => {
      const [w1] = await workers(1);
      expect(w1.broker.lostSubscriptions()).toEqual([]);
      await w1.broker.watchRoom('lobby');
      await w1.broker.unwatchRoom('lobby');
      await w1.broker.close();
      await new Promise((r) => setTimeout(r, 50));
      expect(w1.broker.lostSubscriptions()).toEqual([]);
    });
  });

  describe('close', () => {
    it('is safe to call twice, sequentially and concurrently', async () => {
      const [w1, w2] = await workers(2);
      await Promise.all([w1.broker.close(), w1.broker.close()]);
      await expect(w1.broker.close()).resolves.toBeUndefined();
      await w2.broker.close();
      await expect(w2.broker.close()).resolves.toBeUndefined();
      expect(w1.broker.status).toBe('closed');
      expect(w2.broker.status).toBe('closed');
    });

    it("drops the closed worker's rooms and route from the fabric", async () => {
      const [w1, w2] = await workers(2);
      await w2.broker.watchRoom('lobby');
      await w1.broker.watchRoom('lobby');
      await w2.broker.close();
      expect(w2.broker.status).toBe('closed');
      await expect(w1.broker.sendToWorker('w2', 'alice', direct('alice', 'gone?'))).resolves.toBe(false);
      await w1.broker.publish('lobby', chat('lobby', 'after close'));
      await fence(w1, [w1]);
      expect(w1.eventsIn('lobby')).toHaveLength(1);
      expect(w2.eventsIn('lobby')).toEqual([]);
      expect(w2.user).toEqual([]);
    });

    it('stops taking work: publishing on a closed broker rejects', async () => {
      const [w1] = await workers(1);
      await w1.broker.close();
      await expect(w1.broker.publish('lobby', chat('lobby', 'late'))).rejects.toThrow();
    });
  });
});

describe('NatsBroker worker routes', () => {
  it('reach worker ids that are not subject tokens (host names with dots) and keep them apart', async () => {
    const nc = await connect({ servers: inject('natsUrl') });
    const prefix = uniquePrefix('route');
    const dotted = 'ip-10-0-0-1.ec2.internal-4711';
    const b1 = new NatsBroker(nc, { prefix, worker: dotted, requestTimeoutMs: 1000 });
    const b2 = new NatsBroker(nc, { prefix, worker: 'ip-10-0-0-1', requestTimeoutMs: 1000 });
    try {
      const got: string[] = [];
      b1.setHandlers({ onRoomEvent() {}, onUserEvent: (u) => (got.push(`dotted:${u}`), true) });
      b2.setHandlers({ onRoomEvent() {}, onUserEvent: (u) => (got.push(`plain:${u}`), true) });
      await Promise.all([b1.ready(), b2.ready()]);
      await expect(b2.sendToWorker(dotted, 'alice', direct('alice', 'x'))).resolves.toBe(true);
      await expect(b1.sendToWorker('ip-10-0-0-1', 'bob', direct('bob', 'y'))).resolves.toBe(true);
      expect(got).toEqual(['dotted:alice', 'plain:bob']);
    } finally {
      await nc.close();
    }
  });
});

describe('NatsBroker subscriptions the server ends', () => {
  const config = (deny: string[]) => `
authorization {
  users = [
    { user: worker, password: "pw-${'x'.repeat(8)}", permissions: { subscribe: { allow: [">"], deny: ${JSON.stringify(deny)} }, publish: { allow: [">"] } } }
  ]
}
`;
  let server: NatsHandle | undefined;

  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('reports a room or route subscription the server withdrew as lost, until the room is watched anew', async () => {
    server = await startNats({ config: config([]) });
    const nc = await connect({ servers: server.url, user: 'worker', pass: `pw-${'x'.repeat(8)}` });
    const prefix = uniquePrefix('lost');
    const broker = new NatsBroker(nc, { prefix, worker: 'w1', requestTimeoutMs: 1000 });
    broker.setHandlers({ onRoomEvent() {}, onUserEvent: () => true });
    try {
      await broker.ready();
      await broker.watchRoom('lobby');
      await broker.watchRoom('quiet');
      expect(broker.lostSubscriptions()).toEqual([]);
      await server.reload(config([`${prefix}.room.lobby`]));
      await vi.waitFor(() => expect(broker.lostSubscriptions()).toEqual(['lobby']), { timeout: 5000 });
      // Permission back; a room that is watched again is fine again.
      await server.reload(config([]));
      await broker.unwatchRoom('lobby');
      expect(broker.lostSubscriptions()).toEqual([]);
      await broker.watchRoom('lobby');
      expect(broker.lostSubscriptions()).toEqual([]);
      const route = `${prefix}.worker.${Buffer.from('w1').toString('base64url')}`;
      await server.reload(config([route]));
      await vi.waitFor(() => expect(broker.lostSubscriptions()).toEqual(['route']), { timeout: 5000 });
    } finally {
      await broker.close();
    }
  });
});
