/**
 * Benchmark peer `socketio`: Socket.IO 4 with @socket.io/redis-adapter, set up as the Socket.IO
 * documentation shows it (https://socket.io/docs/v4/redis-adapter/, "With the ioredis package"):
 * an ioredis client and its duplicate handed to createAdapter. Several of these processes on one
 * Redis form one chat: `socket.to(room).emit` reaches the room's members on every process.
 *
 * Wire protocol (Engine.IO v4 / Socket.IO v5 over a plain WebSocket, no polling):
 *   connect  ws://HOST:PORT/socket.io/?EIO=4&transport=websocket&username=U&room=R
 *   server   0{"sid":...,"pingInterval":25000,"pingTimeout":20000,...}   (Engine.IO open)
 *   client   40                                                         (connect to "/")
 *   server   40{"sid":...}  then  42["joined","R"]
 *   client   42["message","hello"]   (or 42["message",{"text":"hello"}])
 *   others   42["message",{"room":"R","from":"U","text":"hello","ts":1700000000000}]
 *   server   2 (ping) every pingInterval; the client must answer 3 within pingTimeout or is dropped
 * A missing username or a bad room is refused with 44{"message":...} (CONNECT_ERROR).
 *
 *   PORT=9000 REDIS_URL=redis://127.0.0.1:6379 node dist/loadtest/bench/servers/socketio.js
 */
import http from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { DEFAULT_ROOM, isValidRoom, isValidUsername } from '../../../src/protocol';

/** How long SIGTERM waits for sockets and Redis before exiting anyway. */
const SHUTDOWN_BUDGET_MS = 3000;

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

async function main(): Promise<void> {
  const port = Number(process.env.PORT);
  if (!Number.isSafeInteger(port) || port <= 0 || port > 65535) throw new Error(`PORT must be a port number, got "${process.env.PORT ?? ''}"`);
  const pubClient = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const subClient = pubClient.duplicate();
  for (const client of [pubClient, subClient]) client.on('error', (err: Error) => process.stderr.write(`redis: ${err.message}\n`));

  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    transports: ['websocket'],
    serveClient: false,
    // Socket.IO's default too (engine.io 6); stated because every system in the comparison runs without it.
    perMessageDeflate: false,
  });
  io.adapter(createAdapter(pubClient, subClient));

  io.use((socket, next) => {
    const username = first(socket.handshake.query.username);
    const room = first(socket.handshake.query.room) ?? DEFAULT_ROOM;
    if (!isValidUsername(username)) return next(new Error('username: use 1-32 letters, digits, "_" or "-"'));
    if (!isValidRoom(room)) return next(new Error('room: use 1-64 letters, digits, "_" or "-"'));
    socket.data.username = username;
    socket.data.room = room;
    next();
  });

  io.on('connection', (socket) => {
    const { username, room } = socket.data as { username: string; room: string };
    socket.join(room);
    socket.emit('joined', room);
    socket.on('message', (arg: unknown) => {
      const text = typeof arg === 'string' ? arg : typeof (arg as { text?: unknown } | null)?.text === 'string' ? (arg as { text: string }).text : null;
      if (text === null) return;
      socket.to(room).emit('message', { room, from: username, text, ts: Date.now() });
    });
  });

  // The adapter subscribes as soon as it is created; a ping queued behind those subscriptions
  // answers only once Redis has them, so "listening" means cross-process broadcasts arrive.
  await Promise.all([pubClient.ping(), subClient.ping()]);
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(port, '127.0.0.1', resolve);
  });
  process.stdout.write(`listening ${port}\n`);

  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), SHUTDOWN_BUDGET_MS).unref();
    // Closes every socket, the adapter's subscriptions and the HTTP server.
    await io.close();
    await Promise.all([pubClient.quit(), subClient.quit()]).catch(() => undefined);
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown());
  process.on('SIGINT', () => void shutdown());
}

main().catch((err) => {
  process.stderr.write(`socketio: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
