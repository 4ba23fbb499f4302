/**
 * The k6 side shared by the scripts: the custom metrics, the common parameters, and
 * chatSession(), which runs one WebSocket connection (k6/ws) from handshake to close and does
 * the bookkeeping every script needs: connect time, latency of stamped messages, error frames
 * by code, unexpected closes by code, and (when given a tracker) duplicates and gaps.
 * Everything about the protocol itself comes from chat.js.
 */
import { check } from 'k6';
import crypto from 'k6/crypto';
import encoding from 'k6/encoding';
import { Counter, Rate, Trend } from 'k6/metrics';
import ws from 'k6/ws';
import { classify, cleanPrefix, defaultPrefix, handshakeHeaders, hs256Token, NORMAL_CLOSE, parseDialect, provesInRoom, quitFrame } from './chat.js';
import { durationParam, numberParam, stringParam } from './params.js';

/** @typedef {import('./chat.js').Dialect} Dialect */
/** @typedef {import('./chat.js').ChatEvent} ChatEvent */
/** @typedef {import('./chat.js').Tracker} Tracker */

/**
 * Custom metrics. k6 requires them to be created in the init context, which module scope is.
 * Names are what the end-of-test summary and the thresholds use.
 */
export const metrics = {
  /** Send (the sender's Date.now() inside the text) to arrival, per delivery. */
  latency: new Trend('chat_delivery_latency', true),
  /** Live chat messages received that carry a stamp. */
  received: new Counter('chat_messages_received'),
  /** Chat messages sent by the scripts. */
  sent: new Counter('chat_messages_sent'),
  /** From ws.connect to the first frame proving the user is in its room. */
  connectTime: new Trend('chat_connect_time', true),
  /** Share of connections that got into their room (false: refused, closed or timed out first). */
  connectOk: new Rate('chat_connect_ok'),
  /** Closes the script did not ask for, tagged with the close code. */
  closeErrors: new Counter('chat_close_errors'),
  /** Error frames from the server, tagged with the error code. */
  serverErrors: new Counter('chat_server_errors'),
  /** Message ids that never arrived, neither live nor in a resume's history. */
  gaps: new Counter('chat_gaps'),
  /** Message ids delivered twice on one join, or at or below `after` on a resume. */
  duplicates: new Counter('chat_duplicates'),
  /** Ids a resume asked for that the server no longer keeps (history `gap`): not a fault. */
  trimmed: new Counter('chat_history_trimmed'),
};

/** How long the server may take to answer `/quit` with its close before the script closes itself. */
const QUIT_TIMEOUT_MS = 5000;
/** How long after a resume's history stragglers may still arrive live (out of order). */
export const SETTLE_MS = 2000;

/**
 * The parameters every script takes.
 * @param {Record<string, string | undefined>} env  k6's __ENV
 */
export function commonParams(env) {
  return {
    url: stringParam(env, 'URL', 'ws://127.0.0.1:8080/ws'),
    dialect: parseDialect(env.DIALECT),
    /** Latency thresholds, ms. */
    p95: numberParam(env, 'P95_MS', 250, 1),
    p99: numberParam(env, 'P99_MS', 500, 1),
    /** How long a connection may take to get into its room before it counts as failed. */
    joinTimeoutMs: durationParam(env, 'JOIN_TIMEOUT', '10s'),
  };
}

/**
 * The run's username prefix: PREFIX, or one made from the clock. Called from setup(), which k6
 * runs once, because init code runs once per VU and the VUs must agree on the prefix.
 * @param {Record<string, string | undefined>} env
 * @returns {{ prefix: string }}
 */
export function setupRun(env) {
  return { prefix: cleanPrefix(env.PREFIX || defaultPrefix(Date.now())) };
}

/** Trend columns of the end-of-test summary: k6's defaults plus p(99), which the thresholds use. */
export const SUMMARY_TREND_STATS = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'];

/**
 * Latency thresholds in k6's expression syntax.
 * @param {{ p95: number, p99: number }} p
 * @returns {string[]}
 */
export function latencyThresholds(p) {
  return [`p(95)<${p.p95}`, `p(99)<${p.p99}`];
}

/**
 * The thresholds every script that chats shares: nothing lost or doubled, no unexpected close
 * or server error, connections and checks that succeed.
 */
export function integrityThresholds() {
  return {
    chat_gaps: ['count==0'],
    chat_duplicates: ['count==0'],
    chat_close_errors: ['count==0'],
    chat_server_errors: ['count==0'],
    chat_connect_ok: ['rate>0.99'],
    checks: ['rate>0.99'],
  };
}

/**
 * Adds 0 to counters so that they exist in every run: a threshold such as `count==0` or
 * `count>0` is then evaluated (and shown) even when nothing was counted.
 * @param {Counter[]} counters
 */
export function zeroCounters(counters) {
  for (const c of counters) c.add(0);
}

/**
 * What a script's callbacks get for one open connection.
 * @typedef {object} ChatConn
 * @property {import('k6/ws').Socket} socket
 * @property {string} username
 * @property {Dialect} dialect
 * @property {string} worker  the worker named by the welcome frame ('' in the original dialect)
 * @property {(frame: string) => void} send
 * @property {() => void} close  close with 1000: an intended close, not counted as an error
 * @property {() => void} quit   send `/quit` and let the server close (1000 "bye")
 * @property {(ms: number, fn: () => void) => void} after  socket.setTimeout (runs only while open)
 * @property {(ms: number, fn: () => void) => void} every  socket.setInterval (stops at close)
 */

/**
 * @typedef {object} SessionOptions
 * @property {string} url       the full URL (chat.connectUrl)
 * @property {Dialect} dialect
 * @property {string} [session]  the session token (v1; sent in the handshake headers, never the URL)
 * @property {string} [token]    a JWT, for a server with authentication on
 * @property {string} username
 * @property {number} joinTimeoutMs
 * @property {Record<string, string>} [tags]  tags for the connect metrics and k6's ws_* metrics
 * @property {Tracker} [tracker]   count duplicates and gaps of room message ids
 * @property {string[]} [expectedErrors]  error codes the script handles itself (not counted)
 * @property {(conn: ChatConn, ev: ChatEvent) => Record<string, string>} [latencyTags]
 * @property {(conn: ChatConn, ev: ChatEvent) => void} [onInRoom]  once, when the user is in its room
 * @property {(conn: ChatConn, ev: ChatEvent) => void} [onEvent]   every server frame
 * @property {(conn: ChatConn, code: number) => void} [onClose]
 */

/**
 * @typedef {object} SessionResult
 * @property {number} status          the handshake's HTTP status (101 when it worked)
 * @property {boolean} inRoom
 * @property {number | null} closeCode
 * @property {boolean} expectedClose  the script closed (or quit), rather than the server or network
 * @property {string} worker
 * @property {string} error
 */

/**
 * `-e AUTH_SECRET=<the server's AUTH_SECRET>`: every connection carries an HS256 token for its
 * own username, valid for `-e TOKEN_TTL` (default 1h), so the scripts load a server with
 * authentication on. Unset: no token, as for the local cluster's default.
 * @param {string} user
 * @returns {string | undefined}
 */
function tokenFor(user) {
  const secret = stringParam(__ENV, 'AUTH_SECRET', '');
  if (!secret) return undefined;
  const ttlSec = Math.max(1, Math.round(durationParam(__ENV, 'TOKEN_TTL', '1h') / 1000));
  return hs256Token(
    user,
    Math.floor(Date.now() / 1000),
    ttlSec,
    (text) => encoding.b64encode(text, 'rawurl'),
    (input) => /** @type {string} */ (crypto.hmac('sha256', secret, input, 'base64rawurl')),
  );
}

/**
 * Opens one connection and runs it until it closes (k6/ws's connect blocks the VU until then).
 * @param {SessionOptions} opts
 * @returns {SessionResult}
 */
export function chatSession(opts) {
  const dialect = opts.dialect;
  const token = opts.token ?? tokenFor(opts.username);
  const tags = opts.tags || {};
  const tracker = opts.tracker;
  /** @type {SessionResult} */
  const result = { status: 0, inRoom: false, closeCode: null, expectedClose: false, worker: '', error: '' };
  let recorded = false;
  let intended = false;
  let quitting = false;
  /** @param {boolean} ok */
  const settle = (ok) => {
    if (recorded) return;
    recorded = true;
    metrics.connectOk.add(ok, tags);
  };

  const started = Date.now();
  /** @type {import('k6/ws').Response | undefined} */
  let res;
  let opened = false;
  try {
    res = ws.connect(opts.url, { headers: handshakeHeaders(dialect, { session: opts.session, token }), tags }, (socket) => {
      opened = true;
      /** @type {ChatConn} */
      const conn = {
        socket,
        username: opts.username,
        dialect,
        worker: '',
        send(frame) {
          socket.send(frame);
        },
        close() {
          intended = true;
          socket.close(NORMAL_CLOSE);
        },
        quit() {
          quitting = true;
          socket.send(quitFrame(dialect));
          socket.setTimeout(() => {
            result.error = 'no close after /quit';
            intended = true;
            socket.close(NORMAL_CLOSE);
          }, QUIT_TIMEOUT_MS);
        },
        after(ms, fn) {
          // k6 refuses a delay of 0 or less; older versions take whole milliseconds only.
          socket.setTimeout(fn, Math.max(1, Math.round(ms)));
        },
        every(ms, fn) {
          socket.setInterval(fn, Math.max(1, Math.round(ms)));
        },
      };

      socket.on('message', (raw) => {
        const ev = classify(dialect, raw, opts.username);
        if (ev.kind === 'welcome') {
          conn.worker = ev.worker || '';
          result.worker = conn.worker;
        } else if (ev.kind === 'error') {
          if (!opts.expectedErrors || opts.expectedErrors.indexOf(ev.code || '') < 0) metrics.serverErrors.add(1, { code: ev.code || 'unknown' });
        } else if (ev.kind === 'message' && ev.stamp) {
          const ms = Date.now() - ev.stamp.sentAt;
          metrics.received.add(1);
          if (opts.latencyTags) metrics.latency.add(ms, opts.latencyTags(conn, ev));
          else metrics.latency.add(ms);
        }
        if (tracker) {
          const applied = tracker.apply(ev);
          if (applied.duplicates > 0) metrics.duplicates.add(applied.duplicates);
          if (applied.trimmed > 0) metrics.trimmed.add(applied.trimmed);
          const upTo = applied.settleUpTo;
          const room = ev.room || '';
          if (upTo !== null) {
            conn.after(SETTLE_MS, () => {
              const lost = tracker.lostUpTo(room, upTo);
              if (lost > 0) metrics.gaps.add(lost);
            });
          }
        }
        if (!result.inRoom && provesInRoom(dialect, ev)) {
          result.inRoom = true;
          metrics.connectTime.add(Date.now() - started, tags);
          settle(true);
          if (opts.onInRoom) opts.onInRoom(conn, ev);
        }
        if (opts.onEvent) opts.onEvent(conn, ev);
      });

      socket.on('close', (code) => {
        result.closeCode = code;
        result.expectedClose = intended || (quitting && code === NORMAL_CLOSE);
        if (!result.expectedClose) metrics.closeErrors.add(1, { code: String(code) });
        settle(false);
        if (opts.onClose) opts.onClose(conn, code);
      });

      // k6 also raises 'error' for a close other than 1000/1001, just before 'close', which
      // does the counting; keep the message for whoever inspects the result.
      socket.on('error', (e) => {
        result.error = e.error();
      });

      socket.setTimeout(() => {
        if (result.inRoom) return;
        result.error = 'timed out before getting into the room';
        settle(false);
        intended = true;
        socket.close(NORMAL_CLOSE);
      }, Math.max(1, opts.joinTimeoutMs));
    });
  } catch (err) {
    // With --throw a refused handshake throws instead of returning a response. Anything thrown
    // once the socket existed is a bug in a callback: let k6 report it.
    if (opened) throw err;
    result.error = String(err);
  }
  result.status = res ? res.status : 0;
  if (result.status !== 101) settle(false);
  check(result, {
    'handshake switched protocols (101)': (r) => r.status === 101,
    'got into the room': (r) => r.inRoom,
  });
  return result;
}
