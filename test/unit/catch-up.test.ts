import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { RoomEvent } from '../../src/broker/types';
import { CatchUp } from '../../src/catch-up';
import { MemoryHistory } from '../../src/history/memory';
import type { ChatMessage } from '../../src/protocol';

/**
 * The catch-up after a NATS outage, against the in-memory history: what a worker's rooms missed
 * while it was away goes out once, however it arrives (live, published late, or from history).
 */
function setUp(rooms = ['r']) {
  const history = new MemoryHistory({ size: 1000, idleTtlMs: 60_000 });
  const shown: number[] = [];
  const origins: string[] = [];
  // As ChatNode.onRoomEvent does: every stored message passes through fresh() before fan-out.
  const deliver = (room: string, event: RoomEvent) => {
    if (event.kind !== 'message' || !catchUp.fresh(room, event.message)) return;
    shown.push(event.message.id!);
    origins.push(event.origin);
  };
  const catchUp: CatchUp = new CatchUp({
    history,
    log: pino({ level: 'silent' }),
    rooms: () => rooms,
    deliver,
    origin: (user) => (user === 'local' ? 'w1/local-key' : ''),
    recentLimit: 50,
  });
  const append = (from = 'bob', ts = new Date().toISOString()) => history.append({ room: 'r', from, text: 't', ts });
  const live = (m: ChatMessage) => deliver(m.room, { kind: 'message', message: m, origin: 'elsewhere' });
  return { history, catchUp, shown, origins, append, live };
}

describe('CatchUp', () => {
  it('delivers from history what was stored while the broker was away, each once', async () => {
    const { catchUp, shown, append, live } = setUp();
    for (let i = 0; i < 5; i++) live(await append());
    catchUp.disconnected();
    const during: ChatMessage[] = [];
    for (let i = 0; i < 300; i++) during.push(await append());
    // A worker that held its publishes sends them once it is back: before, during and after our catch-up.
    for (const m of during.slice(0, 100)) live(m);
    await catchUp.reconnected();
    for (const m of during) live(m);
    expect(shown).toEqual(Array.from({ length: 305 }, (_, i) => i + 1));
  });

  it('does not show a sender its own message again', async () => {
    const { catchUp, origins, append, live } = setUp();
    live(await append());
    catchUp.disconnected();
    await append('local');
    await catchUp.reconnected();
    expect(origins.at(-1)).toBe('w1/local-key');
  });

  it('covers the messages of a room quiet until the outage, by time', async () => {
    const { catchUp, shown, append } = setUp();
    await append('bob', new Date(Date.now() - 60_000).toISOString());
    await append(); // just before the outage: within its clock slack
    catchUp.disconnected();
    await append();
    await catchUp.reconnected();
    expect(shown).toEqual([2, 3]);
  });

  it('outside an outage lets every live message through (a reset room reuses its ids)', async () => {
    const { catchUp, shown, live } = setUp();
    const m = { id: 1, room: 'r', from: 'bob', text: 'a', ts: '2026-01-01T00:00:00.000Z' };
    live(m);
    live({ ...m, text: 'b', ts: '2026-01-02T00:00:00.000Z' });
    expect(shown).toEqual([1, 1]);
    catchUp.forget('r');
  });

  it('does nothing when no outage is pending, and skips rooms left meanwhile', async () => {
    const rooms = ['r'];
    const { catchUp, shown, append, live } = setUp(rooms);
    await catchUp.reconnected();
    live(await append());
    catchUp.disconnected();
    await append();
    rooms.length = 0;
    await catchUp.reconnected();
    expect(shown).toEqual([1]);
  });
});
