/**
 * The one configuration schema. Every option has its doc, default and environment variable
 * here; nothing else in chatfabric reads process.env. A JSON file given with `--config path`
 * (or CONFIG_FILE) is loaded over the defaults, and the environment wins over the file.
 */
import convict from 'convict';
import os from 'node:os';

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
    maxConnections: {
      doc: 'Connections one worker accepts (the machine allows 20,000 open files per process).',
      format: 'positive-int',
      default: 15000,
      env: 'MAX_CONNECTIONS',
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
    maxConnections: number;
  };
  ws: { pingIntervalMs: number; roomLingerMs: number };
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
  if (config.worker.portBase > 0) {
    const shard = Number(config.worker.shard);
    if (!Number.isSafeInteger(shard) || shard < 0 || config.worker.portBase + shard > 65535) {
      throw new ConfigError(`invalid configuration: worker.shard (NODE_APP_INSTANCE=${config.worker.shard}) must be a small non-negative integer when WORKER_PORT_BASE is set`);
    }
    config.port = config.worker.portBase + shard;
  }
  if (!config.worker.id) config.worker.id = `${os.hostname()}-${process.pid}`;
  return config;
}

/** The NATS server list from the url option. */
export function natsServers(config: ConfigShape): string[] {
  return config.nats.url.split(',').map((s) => s.trim()).filter(Boolean);
}
