/**
 * chatfabric's wire protocol, as the k6 scripts speak it: connection URLs, the frames a client
 * sends (both dialects), one classifier for everything the server sends, the timestamp the
 * scripts carry inside chat text, and the per-room id bookkeeping that proves a resume lost and
 * doubled nothing. docs/protocol.md is the reference for every frame used here.
 *
 * This module imports nothing (no k6, no Node), so test/unit and test/integration load it under
 * Node and check it against the server's own parser and a real worker. Keep it that way: every
 * protocol detail the scripts rely on lives here, where those tests can see it.
 */

/** The WebSocket subprotocol that selects the extended dialect. */
export const SUBPROTOCOL_V1 = 'chatfabric.v1';
/** The room every user starts in, and the one `leave` returns to. */
export const DEFAULT_ROOM = 'global';
/** Letters, digits, `_` and `-`; 1 to 32 characters (docs/protocol.md, section 2). */
export const USERNAME_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
/** Letters, digits, `_` and `-`; 1 to 64 characters. */
export const ROOM_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** Letters, digits, `_` and `-`; 16 to 128 characters. */
export const SESSION_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;
/**
 * Secrets never go in the URL (proxies log it): the session token is offered as the subprotocol
 * `chatfabric.session.<token>` and a JWT as `chatfabric.auth.<jwt>`, next to `chatfabric.v1`
 * (docs/protocol.md 1.2). Mirrors src/protocol/credentials.ts (a unit test keeps them equal).
 */
export const SESSION_PROTOCOL_PREFIX = 'chatfabric.session.';
export const AUTH_PROTOCOL_PREFIX = 'chatfabric.auth.';
/** The close code of a client that leaves, and of the server's answer to `/quit`. */
export const NORMAL_CLOSE = 1000;

/**
 * Close codes after which a well-behaved client reconnects and resumes; the rest (4001 taken,
 * 4002 abuse, 4005 replaced, 4007 claim lost, 1009 too big) must not be retried in a loop.
 * Mirrors RECONNECT_CODES in src/protocol/codes.ts (a unit test keeps them equal).
 */
export const RECONNECT_CODES = [1001, 1006, 1011, 1012, 1013, 4003, 4004];

/** @typedef {'v1' | 'original'} Dialect */
/** @typedef {string | number} Ref */

/**
 * Reads a DIALECT parameter: `v1` (the default) or `original` (`legacy` is accepted too, the
 * name the server's code uses).
 * @param {string | undefined} value
 * @returns {Dialect}
 */
export function parseDialect(value) {
  const v = (value || 'v1').trim().toLowerCase();
  if (v === 'v1' || v === SUBPROTOCOL_V1) return 'v1';
  if (v === 'original' || v === 'legacy') return 'original';
  throw new Error(`DIALECT must be "v1" or "original", not "${value}"`);
}

/**
 * Whether a close code means "reconnect and resume".
 * @param {number} code
 * @returns {boolean}
 */
export function shouldReconnect(code) {
  return RECONNECT_CODES.indexOf(code) >= 0;
}

// ---------------------------------------------------------------- names and URLs

/**
 * Reduces a run prefix to the username charset and to 16 characters, so that every name built
 * from it (prefix, a dash and a number of up to 15 digits) stays within the 32 a username may have.
 * @param {string | undefined} prefix
 * @returns {string}
 */
export function cleanPrefix(prefix) {
  const p = String(prefix || '').replace(/[^A-Za-z0-9_-]/g, '').slice(0, 16);
  return p || 'k6';
}

/**
 * A prefix that differs between runs (base-36 milliseconds), for when the user gives none.
 * Call it once per run (in k6's setup()), not per VU, or the VUs would disagree on it.
 * @param {number} nowMs
 * @returns {string}
 */
export function defaultPrefix(nowMs) {
  return `k6${Math.floor(nowMs).toString(36).slice(-6)}`;
}

/**
 * The username of user number `n` of a run. Unique per run prefix and n, valid by construction.
 * @param {string} prefix
 * @param {number} n
 * @returns {string}
 */
export function username(prefix, n) {
  const name = `${cleanPrefix(prefix)}-${n}`;
  if (!USERNAME_PATTERN.test(name)) throw new Error(`cannot build a valid username from ${prefix} and ${n}`);
  return name;
}

/**
 * The name of room number `i` of a run; the prefix keeps two runs out of each other's rooms and
 * their message ids.
 * @param {string} prefix
 * @param {number} i
 * @returns {string}
 */
export function roomName(prefix, i) {
  return `${cleanPrefix(prefix)}-room-${i}`;
}

/**
 * A random string of the username/session charset. Math.random is enough: the token only has to
 * be unguessable by other test users, not by an attacker.
 * @param {number} length
 * @returns {string}
 */
export function randomToken(length) {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (let i = 0; i < length; i++) s += chars.charAt(Math.floor(Math.random() * chars.length));
  return s;
}

/**
 * A session token for user `n` (kept for the VU's life so that its reconnects take over its own
 * name even before the server has noticed the old connection is gone).
 * @param {string} prefix
 * @param {number} n
 * @returns {string}
 */
export function sessionToken(prefix, n) {
  return `${cleanPrefix(prefix)}-${n}-${randomToken(16)}`.slice(0, 128);
}

/**
 * @typedef {object} ConnectQuery
 * @property {string} username
 * @property {string} [room]      first room (default `global`)
 * @property {number} [after]     resume the first room after this id (v1)
 */

/**
 * @typedef {object} Credentials
 * @property {string} [session]   the VU's session token (v1 only: the original dialect has none)
 * @property {string} [token]     a JWT, for a server with authentication on
 */

/**
 * The URL to open: `base?username=..&room=..&after=..`. Throws on a value the server would
 * refuse with HTTP 400, so a script bug shows as an exception, not as failed handshakes; a
 * session token is one of them (it goes in the handshake headers: handshakeHeaders).
 * @param {string} base  the endpoint, e.g. ws://127.0.0.1:8080/ws
 * @param {ConnectQuery} q
 * @returns {string}
 */
export function connectUrl(base, q) {
  if (!USERNAME_PATTERN.test(q.username)) throw new Error(`invalid username "${q.username}"`);
  const parts = [`username=${encodeURIComponent(q.username)}`];
  if (q.room !== undefined) {
    if (!ROOM_PATTERN.test(q.room)) throw new Error(`invalid room "${q.room}"`);
    parts.push(`room=${encodeURIComponent(q.room)}`);
  }
  if (q.after !== undefined) {
    if (!isOffset(q.after)) throw new Error(`invalid after ${q.after}`);
    parts.push(`after=${q.after}`);
  }
  if (/** @type {any} */ (q).session !== undefined) throw new Error('the session token goes in the handshake headers (handshakeHeaders), not the URL');
  return `${base}${base.indexOf('?') >= 0 ? '&' : '?'}${parts.join('&')}`;
}

/**
 * The subprotocols to offer (for clients with a protocols argument, like `ws`): the dialect and,
 * in v1, the credentials. The original dialect offers none (a client that offers one and gets
 * none selected fails the handshake), so it carries no session and sends a JWT in Authorization
 * (handshakeHeaders). Throws on a session token the server would refuse.
 * @param {Dialect} dialect
 * @param {Credentials} [creds]
 * @returns {string[]}
 */
export function subprotocols(dialect, creds) {
  if (dialect !== 'v1') return [];
  const out = [SUBPROTOCOL_V1];
  if (creds && creds.session !== undefined) {
    if (!SESSION_PATTERN.test(creds.session)) throw new Error('invalid session token');
    out.push(SESSION_PROTOCOL_PREFIX + creds.session);
  }
  if (creds && creds.token) out.push(AUTH_PROTOCOL_PREFIX + creds.token);
  return out;
}

/**
 * An HS256 JWT naming `user` (`sub`, `iat`, `exp`), for load against a server with
 * `AUTH_MODE=jwt` and a shared secret (docs/configuration.md). The encoder and the HMAC come
 * from the caller (k6/encoding and k6/crypto in the scripts, node:crypto in the tests), so this
 * module stays free of any runtime.
 * @param {string} user
 * @param {number} nowSec  seconds since the epoch
 * @param {number} ttlSec  the token's life
 * @param {(text: string) => string} b64url  unpadded base64url of a UTF-8 string
 * @param {(input: string) => string} sign   unpadded base64url HMAC-SHA256 of input with the secret
 * @returns {string}
 */
export function hs256Token(user, nowSec, ttlSec, b64url, sign) {
  const input = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify({ sub: user, iat: nowSec, exp: nowSec + ttlSec }))}`;
  return `${input}.${sign(input)}`;
}

/**
 * The handshake headers that select a dialect and carry the credentials, for clients that only
 * take headers (k6/ws has no protocols argument; its Params.headers are sent with the upgrade
 * request). No proxy or worker logs these headers.
 * @param {Dialect} dialect
 * @param {Credentials} [creds]
 * @returns {Record<string, string>}
 */
export function handshakeHeaders(dialect, creds) {
  /** @type {Record<string, string>} */
  const headers = {};
  const protocols = subprotocols(dialect, creds);
  if (protocols.length) headers['Sec-WebSocket-Protocol'] = protocols.join(', ');
  if (dialect !== 'v1' && creds && creds.token) headers.Authorization = `Bearer ${creds.token}`;
  return headers;
}

/**
 * @param {unknown} v
 * @returns {v is number}
 */
function isOffset(v) {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

// ---------------------------------------------------------------- client frames

/**
 * @param {Record<string, unknown>} frame
 * @param {Ref | undefined} ref
 * @returns {string}
 */
function encode(frame, ref) {
  if (ref !== undefined) frame.ref = ref;
  return JSON.stringify(frame);
}

/**
 * A chat message to the current room. Text that starts with `/` is escaped with a second `/`,
 * so it is always said, never run as a command.
 * @param {Dialect} dialect
 * @param {string} text
 * @param {Ref} [ref]  v1 only: echoed in the ack
 * @returns {string}
 */
export function chatFrame(dialect, text, ref) {
  const said = text.charAt(0) === '/' ? `/${text}` : text;
  return dialect === 'v1' ? encode({ type: 'message', text: said }, ref) : encode({ type: 'chat_message', content: said }, undefined);
}

/**
 * A slash command (`/quit`, `/users dev`), sent as chat text as both dialects expect.
 * @param {Dialect} dialect
 * @param {string} line  must start with `/`
 * @param {Ref} [ref]
 * @returns {string}
 */
export function commandFrame(dialect, line, ref) {
  if (line.charAt(0) !== '/' || line.charAt(1) === '/') throw new Error(`not a command: ${line}`);
  return dialect === 'v1' ? encode({ type: 'message', text: line }, ref) : encode({ type: 'chat_message', content: line }, undefined);
}

/**
 * `/quit`: the server answers by closing with 1000 "bye".
 * @param {Dialect} dialect
 * @returns {string}
 */
export function quitFrame(dialect) {
  return commandFrame(dialect, '/quit');
}

/**
 * Moves to `room`. In v1, `after` resumes it (history after that id); the original dialect has
 * no history, so it has no `after` either.
 * @param {Dialect} dialect
 * @param {string} room
 * @param {number} [after]
 * @param {Ref} [ref]
 * @returns {string}
 */
export function joinFrame(dialect, room, after, ref) {
  if (!ROOM_PATTERN.test(room)) throw new Error(`invalid room "${room}"`);
  if (dialect !== 'v1') return encode({ type: 'join_room', room }, undefined);
  /** @type {Record<string, unknown>} */
  const f = { type: 'join', room };
  if (after !== undefined) {
    if (!isOffset(after)) throw new Error(`invalid after ${after}`);
    f.after = after;
  }
  return encode(f, ref);
}

/**
 * Leaves the current room for `global` (which the server then joins, history and all).
 * @param {Dialect} dialect
 * @param {Ref} [ref]
 * @returns {string}
 */
export function leaveFrame(dialect, ref) {
  return dialect === 'v1' ? encode({ type: 'leave' }, ref) : encode({ type: 'leave_room' }, undefined);
}

/**
 * A direct message; the original dialect sends it as `/msg <to> <text>`.
 * @param {Dialect} dialect
 * @param {string} to
 * @param {string} text
 * @param {Ref} [ref]
 * @returns {string}
 */
export function directFrame(dialect, to, text, ref) {
  if (!USERNAME_PATTERN.test(to)) throw new Error(`invalid username "${to}"`);
  if (dialect === 'v1') return encode({ type: 'direct', to, text }, ref);
  return encode({ type: 'chat_message', content: `/msg ${to} ${text}` }, undefined);
}

/**
 * An application-level ping (v1 only; the original dialect has none). WebSocket pings are
 * answered by k6 itself.
 * @param {Ref} [ref]
 * @returns {string}
 */
export function pingFrame(ref) {
  return encode({ type: 'ping' }, ref);
}

// ---------------------------------------------------------------- the timestamp inside chat text

/**
 * @typedef {object} Stamp
 * @property {number} sentAt  the sender's Date.now() when it sent the message
 * @property {string} worker  the sender's worker (from its welcome), '' when unknown
 * @property {number} seq     the sender's own message counter
 */

// Text the server keeps as sent: ASCII, no leading slash, no control characters. The worker
// name is URI-encoded so that a space in it cannot end the field.
const STAMP = /^k6 t=(\d+) w=(\S*) n=(\d+)(?: |$)/;

/**
 * Chat text carrying its send time: `k6 t=<ms> w=<worker> n=<seq>`, then `pad` filler characters
 * if a bigger message is wanted.
 * @param {Stamp} stamp
 * @param {number} [pad]
 * @returns {string}
 */
export function stampText(stamp, pad) {
  const head = `k6 t=${Math.floor(stamp.sentAt)} w=${encodeURIComponent(stamp.worker || '')} n=${stamp.seq}`;
  return pad && pad > 0 ? `${head} ${'x'.repeat(pad)}` : head;
}

/**
 * The stamp in chat text, or null for text that carries none (people chatting in the same room).
 * @param {unknown} text
 * @returns {Stamp | null}
 */
export function parseStamp(text) {
  if (typeof text !== 'string') return null;
  const m = STAMP.exec(text);
  if (!m) return null;
  let worker = m[2];
  try {
    worker = decodeURIComponent(worker);
  } catch (_) {
    // not ours after all; keep it as it came
  }
  return { sentAt: Number(m[1]), worker, seq: Number(m[3]) };
}

// ---------------------------------------------------------------- server frames

/**
 * @typedef {'welcome' | 'joined' | 'history' | 'message' | 'ack' | 'direct' | 'direct_ack'
 *   | 'user_joined' | 'user_left' | 'presence' | 'users' | 'rooms' | 'help' | 'pong' | 'error' | 'notice'
 *   | 'unknown' | 'invalid'} EventKind
 */

/**
 * @typedef {object} HistoryMessage
 * @property {number | null} id
 * @property {string} room
 * @property {string} from
 * @property {string} text
 */

/**
 * One server frame of either dialect, in one shape. Which fields are set depends on `kind`:
 * - welcome: user, room, worker (v1 only: the original dialect has no welcome)
 * - joined: room, users (v1)
 * - history: room, messages, gap, reset (v1)
 * - message: room, from, text, id, stamp (a chat message of the room, never one's own)
 * - ack: room, id, ref (v1: one's own chat message was stored with this id)
 * - direct: from, to, text, id, stamp (a direct message to you)
 * - direct_ack: to (original) or id, ref (v1): a direct message was delivered
 * - user_joined, user_left: room, user, own (is it you), reason (user_left, v1)
 * - presence: room, users (the joined names given; in a large room only the first few),
 *   count (how many joined), frame (v1: the `presence` frame with left and members; original:
 *   the `users_joined` / `users_left` notice of a batch)
 * - users, rooms, help, pong: replies; error: code, message, ref; notice: text
 * - unknown: a type this module does not know; invalid: not JSON or not a frame
 * @typedef {object} ChatEvent
 * @property {EventKind} kind
 * @property {string} [room]
 * @property {string} [user]
 * @property {string} [worker]
 * @property {string} [from]
 * @property {string} [to]
 * @property {string} [text]
 * @property {number | string | null} [id]
 * @property {Stamp | null} [stamp]
 * @property {Ref} [ref]
 * @property {boolean} [own]
 * @property {string} [reason]
 * @property {string} [code]
 * @property {string} [message]
 * @property {string[]} [users]
 * @property {number} [count]
 * @property {HistoryMessage[]} [messages]
 * @property {{ from: number, to: number } | null} [gap]
 * @property {boolean} [reset]
 * @property {Record<string, any>} [frame]  the parsed frame, for anything not lifted out
 */

/**
 * @param {unknown} v
 * @returns {string}
 */
function str(v) {
  return typeof v === 'string' ? v : '';
}

/**
 * @param {unknown} v
 * @returns {number | null}
 */
function idOf(v) {
  return typeof v === 'number' ? v : null;
}

/**
 * @param {unknown} v
 * @returns {Ref | undefined}
 */
function refOf(v) {
  return typeof v === 'string' || typeof v === 'number' ? v : undefined;
}

const DIRECT_SENT = /^direct message sent to ([A-Za-z0-9_-]{1,32})$/;

/**
 * Classifies one text frame from the server.
 * @param {Dialect} dialect  the connection's dialect (the same JSON means different things in each)
 * @param {string} raw       the frame's text
 * @param {string} [self]    your username, to tell your own join and leave notices apart
 * @returns {ChatEvent}
 */
export function classify(dialect, raw, self) {
  /** @type {any} */
  let f;
  try {
    f = JSON.parse(raw);
  } catch (_) {
    return { kind: 'invalid', text: String(raw).slice(0, 200) };
  }
  if (typeof f !== 'object' || f === null || Array.isArray(f) || typeof f.type !== 'string') {
    return { kind: 'invalid', text: String(raw).slice(0, 200) };
  }
  return dialect === 'v1' ? classifyV1(f, self) : classifyOriginal(f, self);
}

/**
 * @param {Record<string, any>} f
 * @param {string | undefined} self
 * @returns {ChatEvent}
 */
function classifyV1(f, self) {
  switch (f.type) {
    case 'welcome':
      return { kind: 'welcome', user: str(f.user), room: str(f.room), worker: str(f.worker), frame: f };
    case 'joined':
      return { kind: 'joined', room: str(f.room), users: Array.isArray(f.users) ? f.users : [], ref: refOf(f.ref), frame: f };
    case 'history':
      return {
        kind: 'history',
        room: str(f.room),
        messages: Array.isArray(f.messages)
          ? f.messages.map((/** @type {any} */ m) => ({ id: idOf(m.id), room: str(m.room), from: str(m.from), text: str(m.text) }))
          : [],
        gap: f.gap && typeof f.gap.from === 'number' && typeof f.gap.to === 'number' ? { from: f.gap.from, to: f.gap.to } : null,
        reset: f.reset === true,
        ref: refOf(f.ref),
        frame: f,
      };
    case 'message':
      return { kind: 'message', room: str(f.room), from: str(f.from), text: str(f.text), id: idOf(f.id), stamp: parseStamp(f.text), frame: f };
    case 'ack':
      // A chat ack names the room its message went to; a direct message's ack has no room.
      if (typeof f.room === 'string') return { kind: 'ack', room: f.room, id: idOf(f.id), ref: refOf(f.ref), frame: f };
      return { kind: 'direct_ack', id: typeof f.id === 'string' ? f.id : null, ref: refOf(f.ref), frame: f };
    case 'direct':
      return { kind: 'direct', from: str(f.from), to: str(f.to), text: str(f.text), id: str(f.id), stamp: parseStamp(f.text), frame: f };
    case 'user_joined':
    case 'user_left':
      return {
        kind: f.type,
        room: str(f.room),
        user: str(f.user),
        own: self !== undefined && f.user === self,
        reason: f.type === 'user_left' ? str(f.reason) : undefined,
        frame: f,
      };
    case 'presence':
      return { kind: 'presence', room: str(f.room), users: Array.isArray(f.joined) ? f.joined : [], count: typeof f.joinedCount === 'number' ? f.joinedCount : 0, frame: f };
    case 'users':
    case 'rooms':
    case 'help':
    case 'pong':
      return { kind: f.type, ref: refOf(f.ref), users: Array.isArray(f.users) ? f.users : undefined, frame: f };
    case 'error':
      return { kind: 'error', code: str(f.code), message: str(f.message), ref: refOf(f.ref), frame: f };
    default:
      return { kind: 'unknown', frame: f };
  }
}

/**
 * @param {Record<string, any>} f
 * @param {string | undefined} self
 * @returns {ChatEvent}
 */
function classifyOriginal(f, self) {
  if (f.type === 'chat_message') {
    const text = str(f.content);
    if (f.direct === true) return { kind: 'direct', from: str(f.sender), to: str(f.to), text, id: null, stamp: parseStamp(text), frame: f };
    return { kind: 'message', room: str(f.room), from: str(f.sender), text, id: idOf(f.id), stamp: parseStamp(text), frame: f };
  }
  if (f.type !== 'system_message') return { kind: 'unknown', frame: f };
  const content = str(f.content);
  if (typeof f.code === 'string') {
    return { kind: 'error', code: f.code, message: content.indexOf('error: ') === 0 ? content.slice(7) : content, frame: f };
  }
  if (f.event === 'user_joined' || f.event === 'user_left') {
    return { kind: f.event, room: str(f.room), user: str(f.user), own: self !== undefined && f.user === self, frame: f };
  }
  if (f.event === 'users_joined' || f.event === 'users_left') {
    const users = Array.isArray(f.users) ? f.users : [];
    return { kind: 'presence', room: str(f.room), users: f.event === 'users_joined' ? users : [], count: typeof f.count === 'number' ? f.count : users.length, frame: f };
  }
  if (Array.isArray(f.users)) return { kind: 'users', room: str(f.room), users: f.users, frame: f };
  if (Array.isArray(f.rooms)) return { kind: 'rooms', room: str(f.room), frame: f };
  if (Array.isArray(f.commands)) return { kind: 'help', room: str(f.room), frame: f };
  const sent = DIRECT_SENT.exec(content);
  if (sent) return { kind: 'direct_ack', to: sent[1], id: null, frame: f };
  return { kind: 'notice', room: str(f.room), text: content, frame: f };
}

/**
 * Whether this event is the one that proves the user is in its room: `history` in v1 (the
 * second frame of every join; live traffic follows it), the user's own `user_joined` notice in
 * the original dialect (which has no other confirmation of a join).
 * @param {Dialect} dialect
 * @param {ChatEvent} ev
 * @returns {boolean}
 */
export function provesInRoom(dialect, ev) {
  return dialect === 'v1' ? ev.kind === 'history' : ev.kind === 'user_joined' && ev.own === true;
}

// ---------------------------------------------------------------- ids, resume, gaps and duplicates

/**
 * @typedef {object} Applied
 * @property {number} duplicates   ids delivered twice in this join of the room (or at or below `after` on a resume)
 * @property {number} trimmed      ids the server said are gone for good (history `gap`): not a fault
 * @property {boolean} reset       the room's history restarted (history `reset`)
 * @property {number | null} settleUpTo  after a resume's history: every id up to this one must
 *   be held once live stragglers have arrived; check with lostUpTo(room, settleUpTo) a moment later
 */

/**
 * @typedef {object} RoomState
 * @property {number} contiguous        every id up to this one was received (or declared gone)
 * @property {Record<string, true>} above  ids received above `contiguous`
 * @property {number} highest
 * @property {boolean} known            has a baseline (a history, or a first live id)
 * @property {{ after: number | undefined, delivered: Record<string, true>, baselined: boolean }} join  this join of the room:
 *   the `after` it asked for, the ids it delivered, and whether it has a baseline yet
 */

/**
 * @typedef {object} Tracker
 * @property {(room: string, after: number | undefined, expectHistory: boolean) => void} expect
 *   call when asking to be in `room` (the connect URL, a join or a leave): `after` is what was asked
 *   for, `expectHistory` is true in v1 (a `history` frame will open the join)
 * @property {(ev: ChatEvent) => Applied} apply  feed every event; room traffic is counted
 * @property {(room: string, upTo: number) => number} lostUpTo  ids up to `upTo` never received;
 *   counted once (they are then treated as handled)
 * @property {(room: string) => number | undefined} resumeAfter  the id to resume after, if known
 * @property {(room: string) => number} highest  the highest id received in the room
 */

/**
 * Per-room id bookkeeping (docs/protocol.md 5.6). Ids are per-room offsets 1, 2, 3, ... For the
 * resume point it keeps the highest contiguous id (ids from senders on different workers can
 * arrive slightly out of order, so "highest seen" would skip messages). For duplicates it keeps,
 * per join of a room, the ids that join delivered: a second delivery on the same join is the
 * server's fault, while an id delivered again on a later join is expected (history repeats what
 * came after `after`) unless it is at or below `after`.
 * @returns {Tracker}
 */
export function createTracker() {
  /** @type {Record<string, RoomState>} */
  const rooms = {};

  /**
   * @param {string} room
   * @returns {RoomState}
   */
  function state(room) {
    let s = rooms[room];
    if (!s) {
      s = { contiguous: 0, above: {}, highest: 0, known: false, join: { after: undefined, delivered: {}, baselined: true } };
      rooms[room] = s;
    }
    return s;
  }

  /**
   * Moves `contiguous` over the ids held just above it.
   * @param {RoomState} s
   */
  function advance(s) {
    while (s.above[String(s.contiguous + 1)]) {
      delete s.above[String(s.contiguous + 1)];
      s.contiguous++;
    }
  }

  /**
   * Sets `contiguous` to `to` (a baseline, a gap, ids declared lost) and forgets the ids below it.
   * @param {RoomState} s
   * @param {number} to
   */
  function jump(s, to) {
    if (to <= s.contiguous) return;
    s.contiguous = to;
    for (const k of Object.keys(s.above)) if (Number(k) <= to) delete s.above[k];
    advance(s);
  }

  /**
   * Counts a delivery on the current join; returns 1 when it is a duplicate.
   * @param {RoomState} s
   * @param {number} id
   * @returns {number}
   */
  function deliver(s, id) {
    const key = String(id);
    const j = s.join;
    const dup = j.delivered[key] === true || (j.after !== undefined && id <= j.after);
    j.delivered[key] = true;
    if (!j.baselined) {
      // No history in this join (original dialect): whatever came before the first live id
      // was never going to arrive, so the first one sets the baseline.
      jump(s, id - 1);
      j.baselined = true;
      s.known = true;
    }
    if (id > s.highest) s.highest = id;
    if (id > s.contiguous) {
      s.above[key] = true;
      advance(s);
    }
    return dup ? 1 : 0;
  }

  /** @type {Tracker} */
  const tracker = {
    expect(room, after, expectHistory) {
      const s = state(room);
      s.join = { after, delivered: {}, baselined: expectHistory };
    },

    apply(ev) {
      /** @type {Applied} */
      const out = { duplicates: 0, trimmed: 0, reset: false, settleUpTo: null };
      if (ev.kind === 'history' && ev.room) {
        const s = state(ev.room);
        const after = s.join.after;
        const ids = (ev.messages || []).map((m) => m.id).filter((id) => typeof id === 'number');
        if (ev.reset) {
          out.reset = true;
          s.contiguous = 0;
          s.above = {};
          s.highest = 0;
          s.join.after = undefined;
        }
        if (after === undefined || ev.reset) {
          // A join without resume: what came before the batch is history we did not ask for.
          jump(s, (ids.length ? /** @type {number} */ (ids[0]) : 1) - 1);
        } else if (ev.gap) {
          out.trimmed = ev.gap.to - ev.gap.from + 1;
          jump(s, ev.gap.to);
        }
        s.known = true;
        for (const id of ids) out.duplicates += deliver(s, /** @type {number} */ (id));
        if (after !== undefined && !ev.reset) out.settleUpTo = Math.max(after, ids.length ? Math.max.apply(null, /** @type {number[]} */ (ids)) : after);
        return out;
      }
      if ((ev.kind === 'message' || ev.kind === 'ack') && ev.room && typeof ev.id === 'number') {
        out.duplicates = deliver(state(ev.room), ev.id);
      }
      return out;
    },

    lostUpTo(room, upTo) {
      const s = state(room);
      if (!s.known) return 0;
      let lost = 0;
      for (let id = s.contiguous + 1; id <= upTo; id++) if (!s.above[String(id)]) lost++;
      jump(s, upTo);
      return lost;
    },

    resumeAfter(room) {
      const s = rooms[room];
      return s && s.known ? s.contiguous : undefined;
    },

    highest(room) {
      const s = rooms[room];
      return s ? s.highest : 0;
    },
  };
  return tracker;
}
