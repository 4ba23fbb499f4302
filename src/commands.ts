import { randomUUID } from 'node:crypto';
import type { Client } from './connection';
import type { ChatNode } from './node';
import {
  CloseCode,
  COMMANDS,
  DEFAULT_ROOM,
  encode,
  ErrorCode,
  legacySystem,
  ProtocolError,
  type Ref,
  type Request,
} from './protocol';

type Handler<K extends Request['kind']> = (node: ChatNode, client: Client, req: Extract<Request, { kind: K }>) => Promise<void>;

/** One small handler per request kind; both dialects and the slash commands land here. */
const handlers: { [K in Request['kind']]: Handler<K> } = {
  async say(node, client, req) {
    const room = client.room;
    if (!room) throw new ProtocolError(ErrorCode.Unavailable, 'you are not in a room yet; try again', req.ref);
    const { history, log, metrics } = node.deps;
    const draft = { room, from: client.user, text: req.text, ts: new Date().toISOString() };
    let message;
    try {
      message = await history.append(draft);
    } catch (err) {
      // Redis is down: the message still goes out live, without an id (it cannot be resumed).
      metrics.degraded.inc({ operation: 'history_append' });
      log.warn({ err, room }, 'history append failed; delivering without an id');
      message = { ...draft, id: null };
    }
    try {
      await node.publish(room, { kind: 'message', message, origin: client.key });
    } catch (err) {
      log.error({ err, room }, 'publish failed');
      throw new ProtocolError(ErrorCode.Unavailable, 'message not sent: the fabric is unavailable; try again', req.ref);
    }
    if (client.dialect === 'v1') client.sendFrame({ type: 'ack', id: message.id, room, ts: message.ts, ...refOf(req.ref) });
  },

  async join(node, client, req) {
    if (client.room === req.room && client.dialect === 'legacy') return reply(client, `you are already in ${req.room}`);
    await node.join(client, req.room, req.after, req.ref);
  },

  async leave(node, client, req) {
    if (client.room === DEFAULT_ROOM && client.dialect === 'legacy') {
      return reply(client, `you are already in ${DEFAULT_ROOM}`);
    }
    await node.join(client, DEFAULT_ROOM, undefined, req.ref);
  },

  async users(node, client, req) {
    const users = await node.deps.presence.users(req.room).catch(() => {
      throw new ProtocolError(ErrorCode.Unavailable, 'presence is unavailable; try again shortly', req.ref);
    });
    if (req.room !== undefined && users.length === 0) {
      throw new ProtocolError(ErrorCode.UnknownRoom, `room "${req.room}" has no users`, req.ref);
    }
    if (client.dialect === 'v1') return client.sendFrame({ type: 'users', room: req.room ?? null, users, ...refOf(req.ref) });
    const head = req.room === undefined ? 'Users' : `Users in ${req.room}`;
    reply(client, `${head}: ${users.join(', ')}`, { users });
  },

  async rooms(node, client, req) {
    const rooms = await node.deps.presence.rooms().catch(() => {
      throw new ProtocolError(ErrorCode.Unavailable, 'presence is unavailable; try again shortly', req.ref);
    });
    if (client.dialect === 'v1') return client.sendFrame({ type: 'rooms', rooms, ...refOf(req.ref) });
    reply(client, `Rooms: ${rooms.map((r) => `${r.name} (${r.users})`).join(', ')}`, { rooms });
  },

  async direct(node, client, req) {
    const message = { id: randomUUID(), from: client.user, to: req.to, text: req.text, ts: new Date().toISOString() };
    let delivered: boolean;
    try {
      delivered = await node.sendToUser(req.to, { kind: 'direct', message });
    } catch (err) {
      node.deps.log.warn({ err, to: req.to }, 'direct message failed');
      throw new ProtocolError(ErrorCode.Unavailable, `could not reach ${req.to}'s server; try again`, req.ref);
    }
    if (!delivered) throw new ProtocolError(ErrorCode.UserOffline, `${req.to} is not connected`, req.ref);
    if (client.dialect === 'v1') client.sendFrame({ type: 'ack', id: message.id, ts: message.ts, ...refOf(req.ref) });
    else reply(client, `direct message sent to ${req.to}`);
  },

  async ping(_node, client, req) {
    client.sendFrame({ type: 'pong', ts: new Date().toISOString(), ...refOf(req.ref) });
  },

  async help(_node, client, req) {
    const commands = COMMANDS.map(({ usage, help }) => ({ usage, help }));
    if (client.dialect === 'v1') return client.sendFrame({ type: 'help', commands, ...refOf(req.ref) });
    reply(client, ['Commands:', ...commands.map((c) => `  ${c.usage.padEnd(20)} ${c.help}`)].join('\n'), { commands });
  },

  async quit(_node, client) {
    client.close(CloseCode.Normal, 'bye');
  },
};

export function handleRequest(node: ChatNode, client: Client, req: Request): Promise<void> {
  return (handlers[req.kind] as Handler<typeof req.kind>)(node, client, req as never);
}

/** A server notice in the original dialect. */
function reply(client: Client, content: string, extra?: Record<string, unknown>): void {
  client.send(encode(legacySystem(content, client.room ?? '', extra)));
}

function refOf(ref: Ref | undefined): { ref?: Ref } {
  return ref === undefined ? {} : { ref };
}
