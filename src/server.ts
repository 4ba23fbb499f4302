import http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { AddressConnections, clientAddress, HandshakeBuckets, TrustedProxies } from './address-limits';
import { AuthError, type Authenticator } from './auth';
import { normalizeOrigin } from './config';
import type { Logger } from './log';
import type { Metrics } from './metrics';
import type { ChatNode } from './node';
import { CredentialError, isReservedUsername, isValidRoom, isValidUsername, readCredentials, SECRET_QUERY_PARAMS, SUBPROTOCOL_V1, type OfferedCredentials } from './protocol';
import { serveClientSettings, type ClientSettings, type WebClient } from './web';

export interface Readiness {
  ready: boolean;
  checks: Record<string, boolean>;
}

/** Limits per client address (see src/address-limits.ts); 0 turns one off. */
export interface AddressLimitOptions {
  maxConnectionsPerAddress: number;
  handshakeRatePerSec: number;
  handshakeBurst: number;
  trustedProxies: readonly string[];
}

export interface ServerOptions {
  maxPayloadBytes: number;
  maxConnections: number;
  /** Absent: no per-address limits. */
  addressLimits?: AddressLimitOptions;
  log: Logger;
  metrics: Metrics;
  worker: string;
  /** The node once NATS and Redis are connected; null before. */
  node: () => ChatNode | null;
  readiness: () => Readiness;
  /** Verifies tokens (auth.mode jwt); null or absent: no authentication, the query names the user. */
  auth?: Authenticator | null;
  /** Origins (normalised) whose pages may connect; empty or absent: any. */
  allowedOrigins?: readonly string[];
  /** What GET /client.json tells the browser client; absent: 404 (tests that need no page). */
  clientSettings?: ClientSettings;
  /** The page and its assets (src/web.ts); null or absent: /, /index.html and /assets/ answer 404. */
  web?: WebClient | null;
}

const NO_SECRETS_IN_URL =
  'secrets do not go in the URL (proxies log it): offer the session token as the subprotocol chatfabric.session.<token> ' +
  'and a JWT as chatfabric.auth.<jwt> (or send Authorization: Bearer <jwt>), next to chatfabric.v1';
const TOKEN_REQUIRED =
  'authentication required: offer the subprotocol chatfabric.auth.<jwt> next to chatfabric.v1, or send Authorization: Bearer <jwt>';

/**
 * HTTP endpoints (/healthz, /readyz, /metrics; the browser client at /, /index.html, /assets/
 * and /client.json) and the WebSocket upgrade on /ws.
 * Everything that can be refused is refused before the upgrade, with an HTTP status.
 */
export function createServer(opts: ServerOptions): http.Server {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: opts.maxPayloadBytes,
    perMessageDeflate: false,
    clientTracking: false,
    // Choose the extended dialect only when the client offers it; otherwise no subprotocol.
    handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL_V1) ? SUBPROTOCOL_V1 : false),
  });

  const server = http.createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return respond(res, 405, { error: 'method not allowed' });
    if (path === '/healthz') return respond(res, 200, { status: 'ok', worker: opts.worker });
    if (path === '/readyz') {
      const r = opts.readiness();
      return respond(res, r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not ready', worker: opts.worker, ...r.checks });
    }
    if (path === '/metrics') {
      res.writeHead(200, { 'Content-Type': opts.metrics.registry.contentType });
      return res.end(await opts.metrics.registry.metrics());
    }
    if (path === '/ws') return respond(res, 426, { error: 'this endpoint speaks WebSocket: upgrade required' });
    if (path === '/client.json' && opts.clientSettings) return serveClientSettings(req, res, opts.clientSettings);
    if (opts.web?.serve(req, res, path)) return;
    respond(res, 404, { error: 'not found' });
  });

  const limits = opts.addressLimits;
  const trusted = new TrustedProxies(limits?.trustedProxies ?? []);
  const handshakes = limits && limits.handshakeRatePerSec > 0 ? new HandshakeBuckets(limits.handshakeRatePerSec, limits.handshakeBurst) : null;
  const perAddress = limits && limits.maxConnectionsPerAddress > 0 ? new AddressConnections(limits.maxConnectionsPerAddress) : null;
  // Counted from admission until the TCP connection closes, whatever happens in between (a later
  // refusal, a failed handshake, the WebSocket's end): 'close' comes exactly once.
  function releaseAddress(this: Duplex & { [ADDRESS]?: string }): void {
    if (this[ADDRESS] !== undefined) perAddress!.release(this[ADDRESS]);
  }

  // One handler for every socket, removed once ws has added its own: a closure per connection
  // would live as long as the connection does.
  const upgradeSocketError = (err: Error) => opts.log.debug({ err }, 'upgrade socket error');
  const origins = new Set(opts.allowedOrigins ?? []);
  const upgrade = async (req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/ws') return refuse(socket, 404, 'not found: the WebSocket endpoint is /ws');
    if (handshakes || perAddress) {
      const address = clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], trusted);
      if (handshakes && !handshakes.take(address)) {
        opts.metrics.addressLimitRefusals.inc({ limit: 'handshake_rate' });
        return refuse(socket, 429, 'too many connection attempts from your address: retry with backoff');
      }
      if (perAddress) {
        if (socket.destroyed) return;
        if (!perAddress.tryAdd(address)) {
          opts.metrics.addressLimitRefusals.inc({ limit: 'connections' });
          return refuse(socket, 429, `too many connections from your address (at most ${perAddress.max} per worker): close one first`);
        }
        (socket as Duplex & { [ADDRESS]?: string })[ADDRESS] = address;
        socket.on('close', releaseAddress);
      }
    }
    const node = opts.node();
    if (!node || node.draining || !opts.readiness().ready) return refuse(socket, 503, 'not ready: try again shortly');
    if (node.connectionCount >= opts.maxConnections) return refuse(socket, 503, 'this worker is full: try again shortly');
    // Requests without Origin come from programs, not pages; only a browser page can be made to
    // connect in its visitor's name, and browsers always send Origin.
    const origin = req.headers.origin;
    if (origins.size > 0 && origin !== undefined && !origins.has(normalizeOrigin(origin) ?? '')) {
      opts.metrics.authRefusals.inc({ reason: 'origin' });
      return refuse(socket, 403, 'origin not allowed: pages of this origin may not open chat connections');
    }
    if (SECRET_QUERY_PARAMS.some((p) => url.searchParams.has(p))) return refuse(socket, 400, NO_SECRETS_IN_URL);
    const named = url.searchParams.get('username') || null;
    if (!named && !opts.auth) return refuse(socket, 400, 'the username query parameter is required: /ws?username=<name>');
    if (named && !isValidUsername(named)) return refuse(socket, 400, 'invalid username: use 1-32 letters, digits, "_" or "-"');
    const room = url.searchParams.get('room') ?? undefined;
    if (room !== undefined && !isValidRoom(room)) return refuse(socket, 400, 'invalid room: use 1-64 letters, digits, "_" or "-"');
    const afterRaw = url.searchParams.get('after');
    const after = afterRaw === null ? undefined : /^\d+$/.test(afterRaw) ? Number(afterRaw) : NaN;
    if (after !== undefined && (!Number.isSafeInteger(after) || after < 0)) {
      return refuse(socket, 400, 'invalid after: use a non-negative integer message id');
    }
    let creds: OfferedCredentials;
    try {
      creds = readCredentials(header(req.headers['sec-websocket-protocol']), req.headers.authorization);
    } catch (err) {
      if (err instanceof CredentialError) return refuse(socket, 400, err.message);
      throw err;
    }
    let user = named;
    let expiresAt: number | undefined;
    if (opts.auth) {
      if (!creds.token) {
        opts.metrics.authRefusals.inc({ reason: 'missing_token' });
        return refuse(socket, 401, TOKEN_REQUIRED, { 'WWW-Authenticate': 'Bearer realm="chatfabric"' });
      }
      try {
        ({ user, expiresAt } = await opts.auth.verify(creds.token));
      } catch (err) {
        if (!(err instanceof AuthError)) throw err;
        opts.metrics.authRefusals.inc({ reason: 'invalid_token' });
        opts.log.debug({ reason: err.message, user: named }, 'upgrade refused: invalid token');
        return refuse(socket, 401, err.message, { 'WWW-Authenticate': 'Bearer realm="chatfabric", error="invalid_token"' });
      }
      // The query keeps the username only so that nginx can hash on it; it may not pick another name.
      if (named && named !== user) {
        opts.metrics.authRefusals.inc({ reason: 'wrong_user' });
        return refuse(socket, 403, 'username does not match the token: leave it out of the URL or give the name the token is for');
      }
      if (node.draining) return refuse(socket, 503, 'not ready: try again shortly');
    }
    // After the token: a signed name is checked like a typed one.
    if (isReservedUsername(user!, node.config.names.reserved)) return refuse(socket, 400, `invalid username: "${user}" is reserved; choose another`);
    wss.handleUpgrade(req, socket, head, (ws) => {
      socket.removeListener('error', upgradeSocketError);
      const dialect = ws.protocol === SUBPROTOCOL_V1 ? 'v1' : 'legacy';
      node.accept(ws, { user: user!, dialect, session: creds.session, room, after, expiresAt });
    });
  };
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', upgradeSocketError);
    upgrade(req, socket, head).catch((err) => {
      opts.log.error({ err }, 'upgrade failed');
      // Not yet upgraded (our listener is removed on upgrade): the client gets a status; after it, a closed socket.
      if (socket.listeners('error').includes(upgradeSocketError)) refuse(socket, 500, 'the server could not complete the handshake; try again');
      else socket.destroy();
    });
  });
  return server;
}

/** The client address a socket was counted under, for the per-address connection limit. */
const ADDRESS = Symbol('chatfabric.clientAddress');

function respond(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** Answers an upgrade request with a plain HTTP error and closes the socket. */
function refuse(socket: Duplex, status: number, message: string, headers: Record<string, string> = {}): void {
  if (socket.destroyed) return;
  const body = `${message}\n`;
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: text/plain; charset=utf-8\r\n${extra}` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** A header that may arrive more than once, as one comma-separated value. */
function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}
