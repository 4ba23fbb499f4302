/**
 * The one configuration schema. Every option has its doc, default and environment variable
 * here; nothing else in chatfabric reads process.env. A JSON file given with `--config path`
 * (or CONFIG_FILE) is loaded over the defaults, and the environment wins over the file.
 */
import convict from 'convict';
import os from 'node:os';
import { USERNAME_PATTERN } from './protocol/names';
import { TrustedProxies } from './address-limits';

// Strict numbers: "80x" is an error, not 80 (convict's own formats use parseInt).
const strictNumber = (v: unknown) => (typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v);
convict.addFormat({
  name: 'positive-int',
  coerce: strictNumber,
  validate(v: unknown) {
    if (!Number.isSafeInteger(v) || (v as number) <= 0) throw new Error('must be a positive integer');
  },
});
convict.addFormat({
  name: 'non-negative-int',
  coerce: strictNumber,
  validate(v: unknown) {
    if (!Number.isSafeInteger(v) || (v as number) < 0) throw new Error('must be a non-negative integer');
  },
});
convict.addFormat({
  name: 'tcp-port',
  coerce: strictNumber,
  validate(v: unknown) {
    if (!Number.isSafeInteger(v) || (v as number) < 0 || (v as number) > 65535) throw new Error('must be a port number 0-65535');
  },
});
const TRUE = ['true', '1', 'yes', 'on'];
const FALSE = ['false', '0', 'no', 'off', ''];
convict.addFormat({
  name: 'flag',
  coerce: (v: unknown) => {
    if (typeof v !== 'string') return v;
    const s = v.trim().toLowerCase();
    return TRUE.includes(s) ? true : FALSE.includes(s) ? false : v;
  },
  validate(v: unknown) {
    if (typeof v !== 'boolean') throw new Error('must be true or false (also 1/0, yes/no, on/off)');
  },
});
convict.addFormat({
  name: 'subject-token',
  validate(v: unknown) {
    if (typeof v !== 'string' || !/^[A-Za-z0-9_-]+$/.test(v)) throw new Error('must be letters, digits, "_" or "-"');
  },
});
convict.addFormat({
  name: 'claim-name',
  validate(v: unknown) {
    if (typeof v !== 'string' || v.trim() === '') throw new Error('must name a claim, e.g. sub');
  },
});
convict.addFormat({
  name: 'name-list',
  // From the environment: comma-separated, blanks ignored ("system, admin" or "" for none).
  coerce: (v: unknown) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v),
  validate(v: unknown) {
    if (!Array.isArray(v)) throw new Error('must be a list of usernames (comma-separated in the environment)');
    for (const name of v) {
      if (typeof name !== 'string' || !USERNAME_PATTERN.test(name)) {
        throw new Error(`"${String(name)}" is not a username (1-32 letters, digits, "_" or "-")`);
      }
    }
  },
});
convict.addFormat({
  name: 'url-list',
  validate(v: unknown) {
    if (typeof v !== 'string' || v.trim() === '') throw new Error('must be one URL or a comma-separated list');
    for (const part of v.split(',')) {
      const url = new URL(part.trim().includes('://') ? part.trim() : `nats://${part.trim()}`);
      if (!url.hostname) throw new Error(`"${part}" has no host`);
      // The NATS client ignores credentials in a URL; refusing them beats an "Authorization Violation".
      if (url.username || url.password) throw new Error('must not hold credentials: set NATS_USER and NATS_PASSWORD');
    }
  },
});
convict.addFormat({
  name: 'origin-list',
  validate(v: unknown) {
    if (typeof v !== 'string') throw new Error('must be a comma-separated list of origins');
    for (const part of splitList(v)) {
      if (normalizeOrigin(part) === null) throw new Error(`"${part}" is not an origin: use scheme://host[:port], e.g. https://chat.example.com`);
    }
  },
});
const JWT_ALGORITHMS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
convict.addFormat({
  name: 'jwt-algorithms',
  validate(v: unknown) {
    if (typeof v !== 'string') throw new Error('must be a comma-separated list of JWT algorithms');
    for (const alg of splitList(v)) {
      if (!JWT_ALGORITHMS.includes(alg)) throw new Error(`"${alg}" is not one of ${JWT_ALGORITHMS.join(', ')}`);
    }
  },
});
convict.addFormat({
  name: 'address-list',
  coerce: (v: unknown) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v),
  validate(v: unknown) {
    if (!Array.isArray(v)) throw new Error('must be a comma-separated list of addresses or subnets');
    new TrustedProxies(v);
  },
});
convict.addFormat({
  name: 'redis-url',
  validate(v: unknown) {
    if (typeof v !== 'string') throw new Error('must be a string');
    const url = new URL(v);
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new Error('must start with redis:// or rediss://');
  },
});

export const schema = {
  mode: {
    doc: 'fabric: NATS and Redis join workers into one cluster. memory: one process, in-memory broker, presence and history (no servers needed).',
    format: ['fabric', 'memory'],
    default: 'fabric',
    env: 'CHATFABRIC_MODE',
  },
  host: { doc: 'Address the HTTP/WebSocket server binds.', format: String, default: '0.0.0.0', env: 'HOST' },
  port: { doc: 'Port the HTTP/WebSocket server listens on.', format: 'tcp-port', default: 8080, env: 'PORT', arg: 'port' },
  worker: {
    portBase: {
      doc: 'When above 0, the worker listens on portBase + shard (PM2 cluster mode: 9001, 9002, ...) instead of port.',
      format: 'non-negative-int',
      default: 0,
      env: 'WORKER_PORT_BASE',
    },
    id: {
      doc: 'Name of this worker in logs, welcome frames and presence owners. Empty: <hostname>-<pid>.',
      format: String,
      default: '',
      env: 'WORKER_ID',
    },
    shard: {
      doc: 'Shard index of this worker (PM2 sets NODE_APP_INSTANCE in cluster mode).',
      format: String,
      default: '0',
      env: 'NODE_APP_INSTANCE',
    },
  },
  nats: {
    url: {
      doc: 'NATS server URL, or a comma-separated list of a cluster\'s servers; the client fails over between them.',
      format: 'url-list',
      default: 'nats://127.0.0.1:4222',
      env: 'NATS_URL',
      // Errors leave the value out: a URL can carry a password, and they end up in logs.
      sensitive: true,
    },
    subjectPrefix: {
      doc: 'First token of every subject chatfabric uses (rooms: <prefix>.room.<room>).',
      format: 'subject-token',
      default: 'chatfabric',
      env: 'NATS_SUBJECT_PREFIX',
    },
    requestTimeoutMs: {
      doc: 'How long a direct message waits for the recipient\'s worker to confirm delivery.',
      format: 'positive-int',
      default: 2000,
      env: 'NATS_REQUEST_TIMEOUT_MS',
    },
    user: {
      doc: 'User name the worker authenticates with to NATS; empty: no authentication.',
      format: String,
      default: '',
      env: 'NATS_USER',
    },
    password: {
      doc: 'Password of nats.user. Never logged.',
      format: String,
      default: '',
      env: 'NATS_PASSWORD',
      sensitive: true,
    },
  },
  redis: {
    url: { doc: 'Redis server URL; a password goes in it (redis://:password@host:port).', format: 'redis-url', default: 'redis://127.0.0.1:6379', env: 'REDIS_URL', sensitive: true },
    keyPrefix: {
      doc: 'Prefix of every Redis key chatfabric writes, so several deployments can share one Redis.',
      format: String,
      default: 'chatfabric:',
      env: 'REDIS_KEY_PREFIX',
    },
    commandTimeoutMs: {
      doc: 'A Redis command that takes longer fails (presence and history then degrade, chat goes on).',
      format: 'positive-int',
      default: 2000,
      env: 'REDIS_COMMAND_TIMEOUT_MS',
    },
  },
  presence: {
    heartbeatMs: {
      doc: 'How often a worker refreshes all its users\' presence, in one round trip.',
      format: 'positive-int',
      default: 5000,
      env: 'PRESENCE_HEARTBEAT_MS',
    },
    ttlMs: {
      doc: 'Presence entries not refreshed for this long expire (a crashed worker\'s users vanish).',
      format: 'positive-int',
      default: 15000,
      env: 'PRESENCE_TTL_MS',
    },
    reapIntervalMs: {
      doc: 'How often a worker removes expired room members and announces their leave.',
      format: 'positive-int',
      default: 1000,
      env: 'PRESENCE_REAP_INTERVAL_MS',
    },
    noticeMs: {
      doc: 'Joins and leaves of one room are gathered this long into one notice (the first of a quiet room goes out at once). 0 sends every change alone.',
      format: 'non-negative-int',
      default: 200,
      env: 'PRESENCE_NOTICE_MS',
    },
    summaryAbove: {
      doc: 'In rooms with more members than this, notices name only the first few users and give counts ("alice, bob and 38 others joined").',
      format: 'non-negative-int',
      default: 50,
      env: 'PRESENCE_SUMMARY_ABOVE',
    },
    summaryMs: {
      doc: 'In rooms larger than presence.summaryAbove, joins and leaves are gathered this long into one summary (every notice there costs a frame per member).',
      format: 'non-negative-int',
      default: 5000,
      env: 'PRESENCE_SUMMARY_MS',
    },
    listMax: {
      doc: 'Most members named in the member list a client gets when it joins a room; the list also gives the full count.',
      format: 'positive-int',
      default: 100,
      env: 'PRESENCE_LIST_MAX',
    },
  },
  history: {
    size: { doc: 'Messages kept per room.', format: 'positive-int', default: 1000, env: 'HISTORY_SIZE' },
    onJoin: {
      doc: 'Messages sent to a client that joins a room without resuming (extended dialect). 0 sends none.',
      format: 'non-negative-int',
      default: 50,
      env: 'HISTORY_ON_JOIN',
    },
    idleTtlSec: {
      doc: 'A room\'s history expires after this long without a message.',
      format: 'positive-int',
      default: 7 * 24 * 3600,
      env: 'HISTORY_IDLE_TTL_SEC',
    },
    maxBytes: {
      doc: 'Bytes of history kept per room (UTF-8 of each message\'s sender, text and time); the oldest messages go first.',
      format: 'positive-int',
      default: 64 * 1024,
      env: 'HISTORY_MAX_BYTES',
    },
    maxRooms: {
      doc: 'Rooms that keep history at once; beyond it the least recently written room loses its history.',
      format: 'positive-int',
      default: 1000,
      env: 'HISTORY_MAX_ROOMS',
    },
  },
  limits: {
    maxFrameBytes: {
      doc: 'Largest frame accepted; a larger one gets a frame_too_large error and the connection stays up.',
      format: 'positive-int',
      default: 16 * 1024,
      env: 'MAX_FRAME_BYTES',
    },
    maxPayloadBytes: {
      doc: 'Hard cap on one WebSocket message; above it the socket is closed with 1009 before the frame is read.',
      format: 'positive-int',
      default: 1024 * 1024,
      env: 'MAX_PAYLOAD_BYTES',
    },
    maxMessageLength: {
      doc: 'Longest chat or direct message, in Unicode code points.',
      format: 'positive-int',
      default: 2000,
      env: 'MAX_MESSAGE_LENGTH',
    },
    ratePerSec: {
      doc: 'Frames per second a connection may send on average (token bucket).',
      format: 'positive-int',
      default: 20,
      env: 'RATE_LIMIT_PER_SEC',
    },
    rateBurst: {
      doc: 'Frames a connection may send in a burst above the average rate.',
      format: 'positive-int',
      default: 40,
      env: 'RATE_LIMIT_BURST',
    },
    maxErrors: {
      doc: 'Bad frames or rate-limit hits allowed per abuse window; one more closes the connection with 4002.',
      format: 'positive-int',
      default: 30,
      env: 'ABUSE_MAX_ERRORS',
    },
    abuseWindowMs: { doc: 'Length of the abuse window.', format: 'positive-int', default: 10000, env: 'ABUSE_WINDOW_MS' },
    maxBufferedBytes: {
      doc: 'A client whose unsent data passes this is too slow: closed with 4003, it resumes on reconnect.',
      format: 'positive-int',
      default: 1024 * 1024,
      env: 'MAX_BUFFERED_BYTES',
    },
    maxQueuedBytes: {
      doc: 'Hard cap on unsent data per connection, history included: a history frame gets at most this minus maxBufferedBytes (a larger one is cut to its newest messages), and a client passing it is closed with 4003.',
      format: 'positive-int',
      default: 16 * 1024 * 1024,
      env: 'MAX_QUEUED_BYTES',
    },
    maxConnections: {
      doc: 'Connections one worker accepts (the machine allows 20,000 open files per process).',
      format: 'positive-int',
      default: 15000,
      env: 'MAX_CONNECTIONS',
    },
    maxConnectionsPerAddress: {
      doc: 'Connections one client address may hold on this worker; beyond it upgrades get HTTP 429. 0: no limit.',
      format: 'non-negative-int',
      default: 1000,
      env: 'MAX_CONNECTIONS_PER_ADDRESS',
    },
    handshakeRatePerSec: {
      doc: 'WebSocket handshakes per second one client address may make on this worker on average (token bucket); beyond it upgrades get HTTP 429. 0: no limit.',
      format: 'non-negative-int',
      default: 50,
      env: 'HANDSHAKE_RATE_PER_SEC',
    },
    handshakeBurst: {
      doc: 'Handshakes one client address may make in a burst above the average rate.',
      format: 'positive-int',
      default: 100,
      env: 'HANDSHAKE_BURST',
    },
    trustedProxies: {
      doc: 'Addresses or subnets of proxies whose X-Forwarded-For names the client (for the per-address limits); from anyone else the header is ignored. Empty: trust none.',
      format: 'address-list',
      default: ['127.0.0.1', '::1'],
      env: 'TRUSTED_PROXIES',
    },
  },
  ws: {
    pingIntervalMs: {
      doc: 'Interval of WebSocket pings; a client that has not answered one ping by the next is closed with 4004 (after one to two intervals).',
      format: 'positive-int',
      default: 25000,
      env: 'PING_INTERVAL_MS',
    },
    roomLingerMs: {
      doc: 'How long a worker keeps a room subscription after its last local member left (avoids churn).',
      format: 'non-negative-int',
      default: 1000,
      env: 'ROOM_LINGER_MS',
    },
    allowedOrigins: {
      doc: 'Comma-separated origins (scheme://host[:port]) whose pages may open connections; a handshake with another Origin gets 403. Empty: any. Handshakes without Origin (non-browser clients) are always allowed.',
      format: 'origin-list',
      default: '',
      env: 'ALLOWED_ORIGINS',
    },
  },
  auth: {
    mode: {
      doc: 'off: the username comes from the query (local use). jwt: every connection needs a signed JWT, checked before the upgrade; the username comes from its claim.',
      format: ['off', 'jwt'],
      default: 'off',
      env: 'AUTH_MODE',
    },
    algorithms: {
      doc: 'Comma-separated JWT algorithms accepted. Empty: those of the configured keys (HS256 for auth.secret, RS256/ES256/... from the public key or the JWKS).',
      format: 'jwt-algorithms',
      default: '',
      env: 'AUTH_ALGORITHMS',
    },
    secret: {
      doc: 'Shared secret for HS256/HS384/HS512 tokens, at least 32 characters. Empty: no HMAC tokens.',
      format: String,
      default: '',
      env: 'AUTH_SECRET',
      sensitive: true,
    },
    publicKey: {
      doc: 'PEM public key (SPKI, "-----BEGIN PUBLIC KEY-----") for RS*/PS*/ES*/EdDSA tokens.',
      format: String,
      default: '',
      env: 'AUTH_PUBLIC_KEY',
    },
    publicKeyFile: {
      doc: 'File holding the PEM public key, instead of auth.publicKey.',
      format: String,
      default: '',
      env: 'AUTH_PUBLIC_KEY_FILE',
    },
    jwksFile: {
      doc: 'JSON Web Key Set file ({"keys": [...]}) of public keys; a token picks its key by "kid" (and alg).',
      format: String,
      default: '',
      env: 'AUTH_JWKS_FILE',
    },
    issuer: { doc: 'Required "iss" claim. Empty: not checked.', format: String, default: '', env: 'AUTH_ISSUER' },
    audience: { doc: 'Required "aud" claim. Empty: not checked.', format: String, default: '', env: 'AUTH_AUDIENCE' },
    usernameClaim: {
      doc: 'The claim that holds the username (1-32 letters, digits, "_" or "-").',
      format: 'claim-name',
      default: 'sub',
      env: 'AUTH_USERNAME_CLAIM',
    },
    clockToleranceSec: {
      doc: 'Clock skew allowed when checking "exp" and "nbf"; a connection is closed this long after its token\'s "exp".',
      format: 'non-negative-int',
      default: 5,
      env: 'AUTH_CLOCK_TOLERANCE_SEC',
    },
  },
  web: {
    enabled: {
      doc: 'Serve the browser client (GET / and /assets/) from web.root. Off: those paths answer 404; /client.json is served either way.',
      format: 'flag',
      default: true,
      env: 'WEB_CLIENT',
    },
    root: {
      doc: 'Directory of the built browser client (index.html and assets/), read once at start. Empty: dist/web beside the compiled worker.',
      format: String,
      default: '',
      env: 'WEB_ROOT',
    },
  },
  names: {
    reserved: {
      doc: 'Usernames nobody may claim, compared ignoring case, "_", "-" and look-alike digits (r00t is root). "system", the sender of the original dialect\'s notices, is reserved even when left out.',
      format: 'name-list',
      default: ['system', 'server', 'admin', 'root', 'chatfabric'],
      env: 'RESERVED_NAMES',
    },
  },
  drain: {
    timeoutMs: {
      doc: 'Upper bound of a graceful shutdown; after it the worker exits anyway.',
      format: 'positive-int',
      default: 8000,
      env: 'DRAIN_TIMEOUT_MS',
    },
  },
  log: {
    level: {
      doc: 'pino log level.',
      format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info',
      env: 'LOG_LEVEL',
    },
    pretty: { doc: 'Human-readable logs instead of JSON (development).', format: 'flag', default: false, env: 'LOG_PRETTY' },
  },
  configFile: {
    doc: 'Optional JSON file with any of these options.',
    format: String,
    default: '',
    env: 'CONFIG_FILE',
    arg: 'config',
  },
};


/** The plain object shape of the schema. */
export interface ConfigShape {
  mode: 'fabric' | 'memory';
  host: string;
  port: number;
  worker: { portBase: number; id: string; shard: string };
  nats: { url: string; subjectPrefix: string; requestTimeoutMs: number; user: string; password: string };
  redis: { url: string; keyPrefix: string; commandTimeoutMs: number };
  presence: { heartbeatMs: number; ttlMs: number; reapIntervalMs: number; noticeMs: number; summaryAbove: number; summaryMs: number; listMax: number };
  history: { size: number; onJoin: number; idleTtlSec: number; maxBytes: number; maxRooms: number };
  limits: {
    maxFrameBytes: number;
    maxPayloadBytes: number;
    maxMessageLength: number;
    ratePerSec: number;
    rateBurst: number;
    maxErrors: number;
    abuseWindowMs: number;
    maxBufferedBytes: number;
    maxQueuedBytes: number;
    maxConnections: number;
    maxConnectionsPerAddress: number;
    handshakeRatePerSec: number;
    handshakeBurst: number;
    trustedProxies: string[];
  };
  ws: { pingIntervalMs: number; roomLingerMs: number; allowedOrigins: string };
  auth: {
    mode: 'off' | 'jwt';
    algorithms: string;
    secret: string;
    publicKey: string;
    publicKeyFile: string;
    jwksFile: string;
    issuer: string;
    audience: string;
    usernameClaim: string;
    clockToleranceSec: number;
  };
  web: { enabled: boolean; root: string };
  names: { reserved: string[] };
  drain: { timeoutMs: number };
  log: { level: string; pretty: boolean };
  configFile: string;
}

/** An invalid configuration; main prints its message and exits with status 2. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Loads and validates the configuration from defaults, the optional file, the environment and
 * argv. Throws ConfigError naming every bad option.
 */
export function loadConfig(opts: { env?: NodeJS.ProcessEnv; args?: string[] } = {}): ConfigShape {
  let conf: convict.Config<ConfigShape>;
  try {
    conf = convict<ConfigShape>(schema as unknown as convict.Schema<ConfigShape>, {
      env: opts.env ?? process.env,
      args: opts.args ?? process.argv.slice(2),
    });
    // loadFile re-applies the environment and arguments after the file, so they win over it.
    const file = conf.get('configFile');
    if (file) conf.loadFile(file);
    conf.validate({ allowed: 'strict' });
  } catch (err) {
    throw new ConfigError(`invalid configuration: ${(err as Error).message}`);
  }
  const config = conf.getProperties();
  if (config.presence.ttlMs <= config.presence.heartbeatMs) {
    throw new ConfigError(
      `invalid configuration: presence.ttlMs (PRESENCE_TTL_MS=${config.presence.ttlMs}) must be greater than presence.heartbeatMs (PRESENCE_HEARTBEAT_MS=${config.presence.heartbeatMs})`,
    );
  }
  if (config.nats.password && !config.nats.user) {
    throw new ConfigError('invalid configuration: nats.password (NATS_PASSWORD) is set but nats.user (NATS_USER) is empty');
  }
  if (config.limits.maxFrameBytes > config.limits.maxPayloadBytes) {
    throw new ConfigError('invalid configuration: limits.maxFrameBytes must not exceed limits.maxPayloadBytes');
  }
  if (config.limits.maxQueuedBytes <= config.limits.maxBufferedBytes) {
    throw new ConfigError(
      `invalid configuration: limits.maxQueuedBytes (MAX_QUEUED_BYTES=${config.limits.maxQueuedBytes}) must be greater than limits.maxBufferedBytes (MAX_BUFFERED_BYTES=${config.limits.maxBufferedBytes})`,
    );
  }
  if (config.worker.portBase > 0) {
    const shard = Number(config.worker.shard);
    if (!Number.isSafeInteger(shard) || shard < 0 || config.worker.portBase + shard > 65535) {
      throw new ConfigError(`invalid configuration: worker.shard (NODE_APP_INSTANCE=${config.worker.shard}) must be a small non-negative integer when WORKER_PORT_BASE is set`);
    }
    config.port = config.worker.portBase + shard;
  }
  const { auth } = config;
  if (auth.publicKey && auth.publicKeyFile) {
    throw new ConfigError('invalid configuration: set auth.publicKey (AUTH_PUBLIC_KEY) or auth.publicKeyFile (AUTH_PUBLIC_KEY_FILE), not both');
  }
  if (auth.secret && auth.secret.length < 32) {
    // RFC 7518 3.2: an HMAC key at least as long as the hash; shorter secrets can be brute-forced.
    throw new ConfigError('invalid configuration: auth.secret (AUTH_SECRET) must be at least 32 characters');
  }
  if (auth.mode === 'jwt' && !auth.secret && !auth.publicKey && !auth.publicKeyFile && !auth.jwksFile) {
    throw new ConfigError('invalid configuration: auth.mode jwt needs a key: auth.secret (AUTH_SECRET), auth.publicKey (AUTH_PUBLIC_KEY), auth.publicKeyFile (AUTH_PUBLIC_KEY_FILE) or auth.jwksFile (AUTH_JWKS_FILE)');
  }
  if (!config.worker.id) config.worker.id = `${os.hostname()}-${process.pid}`;
  return config;
}

/** The items of a comma-separated option, trimmed, empty ones dropped. */
export function splitList(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

/**
 * An origin as browsers send it (`scheme://host[:port]`, lower case, default port left out), or
 * null when `value` is not one (a path, a query or credentials make it a URL, not an origin).
 */
export function normalizeOrigin(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  if (url.username || url.password || url.search || url.hash || !/^[a-z]+:\/\/[^/]+\/?$/i.test(value)) return null;
  return url.origin;
}

/** The allowed origins, normalised; empty: any. */
export function allowedOrigins(config: ConfigShape): string[] {
  return splitList(config.ws.allowedOrigins).map((o) => normalizeOrigin(o)!);
}

/** The NATS server list from the url option. */
export function natsServers(config: ConfigShape): string[] {
  return config.nats.url.split(',').map((s) => s.trim()).filter(Boolean);
}
