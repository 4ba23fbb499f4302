/**
 * Benchmark peer `ws-nats`: chatfabric's own design reduced to its core, plain `ws` + `nats`.
 * Each process holds its local rooms, subscribes to `bench.room.<room>` when the first local member
 * joins and unsubscribes when the last leaves; a client message is published once, and every
 * process (the sender's too) fans it out to its local members, encoding the frame once. The
 * practical lower bound of the fabric (no presence, no history, no validation beyond JSON; see
 * subset.ts): the difference to chatfabric is what presence, history and the protections cost.
 *
 *   PORT=9000 NATS_URL=nats://127.0.0.1:4222 node dist/loadtest/bench/servers/ws-nats.js
 */
import { connect, type Msg, type NatsConnection, type NatsError, type Subscription } from 'nats';
import { encodeFrame, sendTo, serveSubset, type Member } from './subset';

/** Names this process in published messages, so its own echo can skip the sender. */
const ORIGIN = process.pid;
const enc = new TextEncoder();
const dec = new TextDecoder();

interface Room {
  readonly name: string;
  readonly members: Set<Member>;
  readonly sub: Subscription;
  /** Resolves once nats-server has the subscription; joiners wait for it before "joined". */
  readonly live: Promise<void>;
}

/** What travels on NATS: the client frame's fields plus who sent it. */
interface Published {
  room: string;
  from: string;
  text: string;
  ts: number;
  origin: number;
  conn: number;
}

const rooms = new Map<string, Room>();
let nc: NatsConnection;

function deliver(room: Room, msg: Msg): void {
  let m: Published;
  try {
    m = JSON.parse(dec.decode(msg.data)) as Published;
  } catch {
    return;
  }
  if (typeof m !== 'object' || m === null || typeof m.from !== 'string' || typeof m.text !== 'string') return;
  const data = encodeFrame({ type: 'message', room: room.name, from: m.from, text: m.text, ts: m.ts });
  const skip = m.origin === ORIGIN ? m.conn : -1;
  for (const member of room.members) if (member.id !== skip) sendTo(member, data);
}

function openRoom(name: string): Room {
  const sub = nc.subscribe(`bench.room.${name}`, {
    callback: (err: NatsError | null, msg: Msg) => {
      if (err) process.stderr.write(`subscription to ${name} failed: ${err.message}\n`);
      else deliver(room, msg);
    },
  });
  // The flush round trip proves the server has the subscription, as chatfabric's broker does.
  const room: Room = { name, members: new Set(), sub, live: nc.flush() };
  rooms.set(name, room);
  return room;
}

async function main(): Promise<void> {
  nc = await connect({ servers: (process.env.NATS_URL ?? 'nats://127.0.0.1:4222').split(','), name: `ws-nats-${ORIGIN}` });
  serveSubset({
    async join(member) {
      const room = rooms.get(member.room) ?? openRoom(member.room);
      room.members.add(member);
      await room.live;
    },
    message(sender, text) {
      const m: Published = { room: sender.room, from: sender.user, text, ts: Date.now(), origin: ORIGIN, conn: sender.id };
      nc.publish(`bench.room.${sender.room}`, enc.encode(JSON.stringify(m)));
    },
    leave(member) {
      const room = rooms.get(member.room);
      if (!room?.members.delete(member) || room.members.size > 0) return;
      room.sub.unsubscribe();
      rooms.delete(member.room);
    },
    close: () => nc.drain(),
  });
}

main().catch((err) => {
  process.stderr.write(`ws-nats: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
