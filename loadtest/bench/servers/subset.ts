/**
 * The chatfabric dialect subset that the `ws` and `ws-nats` benchmark peers share: the upgrade on
 * `GET /ws?username=U&room=R`, the `{"type":"joined"}` frame, parsing of `{"type":"message","text":T}`
 * and the process lifecycle (a `listening <port>` line when ready, a clean exit on SIGTERM).
 *
 * Deliberately the practical lower bound of a chat server: no acks, no presence, no history, no
 * rate limit, no slow-consumer cut-off, no pings, and no validation of a frame beyond "JSON with a
 * string text". What differs between the peers is only how a message reaches the room's members.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { DEFAULT_ROOM, isValidRoom, isValidUsername, SUBPROTOCOL_V1 } from '../../../src/protocol';

/** Largest client frame; ws closes the socket with 1009 above it. Chat frames are far smaller. */
const MAX_PAYLOAD_BYTES = 64 * 1024;
/** How long SIGTERM waits for sockets and the broker before exiting anyway. */
const SHUTDOWN_BUDGET_MS = 3000;

/** One connected client. */
export interface Member {
  /** Unique within this process, so a broker echo can skip exactly the sender. */
  readonly id: number;
  readonly user: string;
  readonly room: string;
  readonly ws: WebSocket;
  /** Set once the joined frame is out; chat frames never overtake it. */
  inRoom: boolean;
}

/** How a peer moves messages; the subset calls these for every client. */
export interface RoomHandlers {
  /** The member is in the room once this resolves (ws-nats: its room's subscription is live). */
  join(member: Member): Promise<void> | void;
  /** A client sent a chat message; `text` is a string, nothing else is checked. */
  message(member: Member, text: string): void;
  /** The member's socket closed. */
  leave(member: Member): void;
  /** Last step of a SIGTERM shutdown, after every client was closed (ws-nats drains NATS). */
  close?(): Promise<void>;
}

let nextId = 0;
let handlers: RoomHandlers;
const members = new WeakMap<WebSocket, Member>();

/** Encodes a text frame once, so fan-out hands the same bytes to every recipient. */
export function encodeFrame(frame: unknown): Buffer {
  return Buffer.from(JSON.stringify(frame));
}

/** Sends an encoded chat frame as a text frame to a member that is in its room and still connected. */
export function sendTo(member: Member, data: Buffer): void {
  if (member.inRoom && member.ws.readyState === WebSocket.OPEN) member.ws.send(data, { binary: false });
}

function socketOnMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  const member = members.get(this);
  if (!member || isBinary) return;
  let frame: unknown;
  try {
    frame = JSON.parse(data.toString());
  } catch {
    return;
  }
  if (typeof frame !== 'object' || frame === null) return;
  const { type, text } = frame as { type?: unknown; text?: unknown };
  if (type === 'message' && typeof text === 'string') handlers.message(member, text);
}

function socketOnClose(this: WebSocket): void {
  const member = members.get(this);
  if (!member) return;
  members.delete(this);
  handlers.leave(member);
}

function socketOnError(): void {
  // A broken socket also emits 'close', which cleans up; nothing to add here.
}

async function accept(ws: WebSocket, user: string, room: string): Promise<void> {
  const member: Member = { id: ++nextId, user, room, ws, inRoom: false };
  members.set(ws, member);
  ws.on('message', socketOnMessage);
  ws.on('close', socketOnClose);
  ws.on('error', socketOnError);
  try {
    await handlers.join(member);
  } catch (err) {
    process.stderr.write(`join of ${user} to ${room} failed: ${(err as Error).message}\n`);
    ws.close(1011, 'join failed');
    return;
  }
  if (ws.readyState !== WebSocket.OPEN) return;
  ws.send(encodeFrame({ type: 'joined', room }), { binary: false });
  member.inRoom = true;
}

/** Answers an upgrade request with a plain HTTP error, as chatfabric does. */
function refuse(socket: Duplex, status: number, message: string): void {
  const body = `${message}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * Serves the subset on 127.0.0.1:$PORT with the given room handlers, prints `listening <port>`
 * once it accepts connections, and exits cleanly on SIGTERM or SIGINT.
 */
export function serveSubset(roomHandlers: RoomHandlers): void {
  handlers = roomHandlers;
  const port = Number(process.env.PORT);
  if (!Number.isSafeInteger(port) || port <= 0 || port > 65535) {
    process.stderr.write(`PORT must be a port number, got "${process.env.PORT ?? ''}"\n`);
    process.exit(2);
  }
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_PAYLOAD_BYTES,
    // chatfabric's setting (src/server.ts): compression costs CPU per frame and per recipient.
    perMessageDeflate: false,
    clientTracking: true,
    handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL_V1) ? SUBPROTOCOL_V1 : false),
  });
  const server = http.createServer((_req, res) => {
    res.writeHead(426, { 'Content-Type': 'text/plain' });
    res.end('this server speaks WebSocket on /ws\n');
  });
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', socketOnError);
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/ws') return refuse(socket, 404, 'not found: the WebSocket endpoint is /ws');
    const user = url.searchParams.get('username');
    if (!isValidUsername(user)) return refuse(socket, 400, 'username: use 1-32 letters, digits, "_" or "-"');
    // The room becomes a NATS subject token in ws-nats, so it must not contain "." or wildcards.
    const room = url.searchParams.get('room') ?? DEFAULT_ROOM;
    if (!isValidRoom(room)) return refuse(socket, 400, 'room: use 1-64 letters, digits, "_" or "-"');
    wss.handleUpgrade(req, socket, head, (ws) => void accept(ws, user, room));
  });
  server.on('error', (err) => {
    process.stderr.write(`cannot listen on ${port}: ${err.message}\n`);
    process.exit(1);
  });

  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), SHUTDOWN_BUDGET_MS).unref();
    server.close();
    for (const ws of wss.clients) ws.close(1001, 'server shutting down');
    await Promise.all(
      [...wss.clients].map((ws) => new Promise<void>((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve() : ws.once('close', () => resolve())))),
    );
    await handlers.close?.().catch((err: Error) => process.stderr.write(`close: ${err.message}\n`));
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown());
  process.on('SIGINT', () => void shutdown());
  server.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${port}\n`));
}
