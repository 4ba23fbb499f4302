/**
 * loadConfig: defaults, environment, JSON file, argv, and the errors that stop a worker with
 * exit status 2 before it listens.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, natsServers } from '../../src/config';

const ROOT = path.resolve(__dirname, '..', '..');
const dir = mkdtempSync(path.join(os.tmpdir(), 'cf-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileSeq = 0;
function writeJson(content: unknown): string {
  const file = path.join(dir, `c${++fileSeq}.json`);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

/** Loads with only the given environment and arguments (never the test runner's). */
const load = (env: Record<string, string> = {}, args: string[] = []) => loadConfig({ env, args });

/** The ConfigError a load throws. */
function configError(env: Record<string, string>, args: string[] = []): ConfigError {
  try {
    load(env, args);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`expected ${JSON.stringify(env)} ${args.join(' ')} to be refused`);
}

describe('defaults', () => {
  it('with an empty environment and no arguments', () => {
    const c = load();
    expect(c.mode).toBe('fabric');
    expect(c.host).toBe('0.0.0.0');
    expect(c.port).toBe(8080);
    expect(c.nats).toEqual({ url: 'nats://127.0.0.1:4222', subjectPrefix: 'chatfabric', requestTimeoutMs: 2000, user: '', password: '' });
    expect(c.redis).toEqual({ url: 'redis://127.0.0.1:6379', keyPrefix: 'chatfabric:', commandTimeoutMs: 2000 });
    expect(c.presence).toEqual({ heartbeatMs: 5000, ttlMs: 15000, reapIntervalMs: 1000, noticeMs: 200, summaryAbove: 50, summaryMs: 5000, listMax: 100 });
    expect(c.history).toEqual({ size: 1000, onJoin: 50, idleTtlSec: 7 * 24 * 3600, maxBytes: 64 * 1024, maxRooms: 1000 });
    expect(c.limits).toEqual({
      maxFrameBytes: 16 * 1024,
      maxPayloadBytes: 1024 * 1024,
      maxMessageLength: 2000,
      ratePerSec: 20,
      rateBurst: 40,
      maxErrors: 30,
      abuseWindowMs: 10000,
      maxBufferedBytes: 1024 * 1024,
      maxQueuedBytes: 16 * 1024 * 1024,
      maxConnections: 15000,
      maxConnectionsPerAddress: 1000,
      handshakeRatePerSec: 50,
      handshakeBurst: 100,
      trustedProxies: ['127.0.0.1', '::1'],
    });
    expect(c.ws).toEqual({ pingIntervalMs: 25000, roomLingerMs: 1000, allowedOrigins: '' });
    expect(c.auth).toEqual({
      mode: 'off',
      algorithms: '',
      secret: '',
      publicKey: '',
      publicKeyFile: '',
      jwksFile: '',
      issuer: '',
      audience: '',
      usernameClaim: 'sub',
      clockToleranceSec: 5,
    });
    expect(c.drain).toEqual({ timeoutMs: 8000 });
    expect(c.log).toEqual({ level: 'info', pretty: false });
    expect(c.configFile).toBe('');
    expect(c.worker.shard).toBe('0');
  });

  it('an empty worker id becomes <hostname>-<pid>', () => {
    expect(load().worker.id).toBe(`${os.hostname()}-${process.pid}`);
    expect(load({ WORKER_ID: 'w7' }).worker.id).toBe('w7');
  });

  it('does not read process.env when an env is given', () => {
    const saved = process.env.PORT;
    process.env.PORT = '9999';
    try {
      expect(load().port).toBe(8080);
    } finally {
      if (saved === undefined) delete process.env.PORT;
      else process.env.PORT = saved;
    }
  });
});

describe('environment overrides', () => {
  it('every documented variable lands on its option', () => {
    const c = load({
      CHATFABRIC_MODE: 'memory',
      HOST: '127.0.0.1',
      PORT: '9001',
      WORKER_ID: 'alpha',
      NODE_APP_INSTANCE: '3',
      NATS_URL: 'nats://10.0.0.1:4222',
      NATS_SUBJECT_PREFIX: 'cf_test-1',
      NATS_REQUEST_TIMEOUT_MS: '750',
      NATS_USER: 'cfworker',
      NATS_PASSWORD: 's3cret',
      REDIS_URL: 'rediss://user:pw@redis.example:6380/2',
      REDIS_KEY_PREFIX: 'x:',
      REDIS_COMMAND_TIMEOUT_MS: '900',
      PRESENCE_HEARTBEAT_MS: '500',
      PRESENCE_TTL_MS: '1500',
      PRESENCE_REAP_INTERVAL_MS: '200',
      HISTORY_SIZE: '10',
      HISTORY_ON_JOIN: '0',
      HISTORY_IDLE_TTL_SEC: '60',
      HISTORY_MAX_BYTES: '65536',
      HISTORY_MAX_ROOMS: '50',
      MAX_FRAME_BYTES: '2048',
      MAX_PAYLOAD_BYTES: '4096',
      MAX_MESSAGE_LENGTH: '280',
      RATE_LIMIT_PER_SEC: '5',
      RATE_LIMIT_BURST: '7',
      ABUSE_MAX_ERRORS: '3',
      ABUSE_WINDOW_MS: '1234',
      MAX_BUFFERED_BYTES: '65536',
      MAX_QUEUED_BYTES: '131072',
      MAX_CONNECTIONS: '12',
      PING_INTERVAL_MS: '3000',
      ROOM_LINGER_MS: '0',
      DRAIN_TIMEOUT_MS: '2500',
      LOG_LEVEL: 'debug',
      LOG_PRETTY: 'true',
    });
    expect(c).toMatchObject({
      mode: 'memory',
      host: '127.0.0.1',
      port: 9001,
      worker: { id: 'alpha', shard: '3' },
      nats: { url: 'nats://10.0.0.1:4222', subjectPrefix: 'cf_test-1', requestTimeoutMs: 750, user: 'cfworker', password: 's3cret' },
      redis: { url: 'rediss://user:pw@redis.example:6380/2', keyPrefix: 'x:', commandTimeoutMs: 900 },
      presence: { heartbeatMs: 500, ttlMs: 1500, reapIntervalMs: 200 },
      history: { size: 10, onJoin: 0, idleTtlSec: 60, maxBytes: 65536, maxRooms: 50 },
      limits: {
        maxFrameBytes: 2048,
        maxPayloadBytes: 4096,
        maxMessageLength: 280,
        ratePerSec: 5,
        rateBurst: 7,
        maxErrors: 3,
        abuseWindowMs: 1234,
        maxBufferedBytes: 65536,
        maxQueuedBytes: 131072,
        maxConnections: 12,
      },
      ws: { pingIntervalMs: 3000, roomLingerMs: 0 },
      drain: { timeoutMs: 2500 },
      log: { level: 'debug', pretty: true },
    });
    // Numbers are numbers, not the environment's strings.
    expect(typeof c.port).toBe('number');
    expect(typeof c.limits.maxFrameBytes).toBe('number');
    expect(typeof c.history.onJoin).toBe('number');
  });

  it('NATS_URL takes a comma-separated cluster list', () => {
    const c = load({ NATS_URL: 'nats://10.0.0.1:4222, nats://10.0.0.2:4222 ,10.0.0.3:4223' });
    expect(natsServers(c)).toEqual(['nats://10.0.0.1:4222', 'nats://10.0.0.2:4222', '10.0.0.3:4223']);
    expect(natsServers(load())).toEqual(['nats://127.0.0.1:4222']);
  });

  it('REDIS_URL accepts redis:// and rediss://', () => {
    expect(load({ REDIS_URL: 'redis://127.0.0.1:7000' }).redis.url).toBe('redis://127.0.0.1:7000');
    expect(load({ REDIS_URL: 'rediss://h:6379' }).redis.url).toBe('rediss://h:6379');
  });

  it('every LOG_LEVEL pino knows is accepted', () => {
    for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) {
      expect(load({ LOG_LEVEL: level }).log.level).toBe(level);
    }
  });

  it('numbers are parsed strictly: surrounding blanks are fine, trailing junk and fractions are not', () => {
    expect(load({ PORT: ' 9001 ' }).port).toBe(9001);
    expect(load({ PORT: '0' }).port).toBe(0);
    expect(load({ PORT: '65535' }).port).toBe(65535);
    expect(configError({ PORT: '80x' }).message).toMatch(/\bport\b/);
    expect(configError({ PORT: '' }).message).toMatch(/\bport\b/);
    expect(configError({ PORT: '65536' }).message).toMatch(/\bport\b/);
    expect(configError({ HISTORY_SIZE: '10abc' }).message).toContain('history.size');
    expect(configError({ MAX_FRAME_BYTES: '1e3' }).message).toContain('limits.maxFrameBytes');
    expect(configError({ HISTORY_ON_JOIN: '2.5' }).message).toContain('history.onJoin');
    expect(configError({ ROOM_LINGER_MS: '0x10' }).message).toContain('ws.roomLingerMs');
  });

  it('LOG_PRETTY takes true/false, 1/0, yes/no, on/off, and refuses anything else', () => {
    for (const v of ['true', '1', 'yes', 'on', 'TRUE', ' Yes ']) expect(load({ LOG_PRETTY: v }).log.pretty, v).toBe(true);
    for (const v of ['false', '0', 'no', 'off', '', 'OFF']) expect(load({ LOG_PRETTY: v }).log.pretty, v).toBe(false);
    expect(configError({ LOG_PRETTY: 'maybe' }).message).toContain('log.pretty');
  });

  it('--port on the command line', () => {
    expect(load({}, ['--port', '9123']).port).toBe(9123);
  });
});

describe('JSON config file', () => {
  it('--config path loads the file over the defaults', () => {
    const file = writeJson({ port: 9100, history: { onJoin: 7 }, limits: { maxMessageLength: 99 }, log: { level: 'warn' } });
    const c = load({}, ['--config', file]);
    expect(c.configFile).toBe(file);
    expect(c.port).toBe(9100);
    expect(c.history.onJoin).toBe(7);
    expect(c.history.size).toBe(1000); // untouched siblings keep their defaults
    expect(c.limits.maxMessageLength).toBe(99);
    expect(c.limits.maxFrameBytes).toBe(16 * 1024);
    expect(c.log.level).toBe('warn');
  });

  it('CONFIG_FILE names the file too', () => {
    const file = writeJson({ port: 9200 });
    expect(load({ CONFIG_FILE: file }).port).toBe(9200);
  });

  it('the environment wins over the file', () => {
    const file = writeJson({ port: 9100, history: { onJoin: 7, size: 20 }, log: { level: 'warn' } });
    const c = load({ PORT: '9300', HISTORY_ON_JOIN: '3', LOG_LEVEL: 'error' }, ['--config', file]);
    expect(c.port).toBe(9300);
    expect(c.history.onJoin).toBe(3);
    expect(c.history.size).toBe(20); // not set in the environment: the file's value
    expect(c.log.level).toBe('error');
  });

  it('the command line wins over the file', () => {
    const file = writeJson({ port: 9100 });
    expect(load({}, ['--config', file, '--port', '9400']).port).toBe(9400);
  });

  it('an unknown key in the file is refused, naming it', () => {
    const file = writeJson({ port: 9100, prot: 1 });
    const err = configError({}, ['--config', file]);
    expect(err.message).toContain('prot');
    const nested = writeJson({ limits: { maxFrameByte: 10 } });
    expect(configError({}, ['--config', nested]).message).toContain('maxFrameByte');
  });

  it('a bad value in the file is refused, naming the option', () => {
    const file = writeJson({ redis: { url: 'http://redis:6379' } });
    expect(configError({}, ['--config', file]).message).toContain('redis.url');
  });

  it('a missing or unparsable file is a ConfigError', () => {
    expect(configError({}, ['--config', path.join(dir, 'nope.json')]).message).toMatch(/nope\.json|ENOENT/);
    const broken = writeJson('{"port": 9100');
    configError({}, ['--config', broken]);
  });
});

describe('invalid values', () => {
  it.each<[Record<string, string>, RegExp]>([
    [{ PORT: 'abc' }, /\bport\b/],
    [{ PORT: '70000' }, /\bport\b/],
    [{ PORT: '-1' }, /\bport\b/],
    [{ REDIS_URL: 'http://x' }, /redis\.url.*redis:\/\//],
    [{ REDIS_URL: 'not a url' }, /redis\.url/],
    [{ NATS_URL: '' }, /nats\.url/],
    [{ LOG_LEVEL: 'loud' }, /log\.level/],
    [{ CHATFABRIC_MODE: 'cluster' }, /\bmode\b/],
    [{ NATS_SUBJECT_PREFIX: 'a.b' }, /nats\.subjectPrefix/],
    [{ NATS_SUBJECT_PREFIX: 'a*' }, /nats\.subjectPrefix/],
    [{ HISTORY_SIZE: '0' }, /history\.size/],
    [{ HISTORY_ON_JOIN: '-1' }, /history\.onJoin/],
    [{ HISTORY_MAX_BYTES: '0' }, /history\.maxBytes/],
    [{ HISTORY_MAX_ROOMS: 'many' }, /history\.maxRooms/],
    [{ NATS_URL: 'nats://cf:pw@10.0.0.1:4222' }, /nats\.url.*NATS_USER and NATS_PASSWORD/],
    [{ NATS_PASSWORD: 'pw' }, /nats\.password \(NATS_PASSWORD\) is set but nats\.user \(NATS_USER\) is empty/],
    [{ MAX_FRAME_BYTES: '0' }, /limits\.maxFrameBytes/],
    [{ MAX_MESSAGE_LENGTH: 'lots' }, /limits\.maxMessageLength/],
    [{ RATE_LIMIT_PER_SEC: '1.5' }, /limits\.ratePerSec/],
    [{ MAX_CONNECTIONS: '-5' }, /limits\.maxConnections/],
    [{ PRESENCE_HEARTBEAT_MS: 'soon' }, /presence\.heartbeatMs/],
  ])('%j is refused with a message naming the option', (env, pattern) => {
    const err = configError(env);
    expect(err.name).toBe('ConfigError');
    expect(err.message).toMatch(/^invalid configuration: /);
    expect(err.message).toMatch(pattern);
  });

  it('PRESENCE_TTL_MS must exceed PRESENCE_HEARTBEAT_MS', () => {
    const equal = configError({ PRESENCE_TTL_MS: '5000' });
    expect(equal.message).toContain('PRESENCE_TTL_MS');
    expect(equal.message).toContain('PRESENCE_HEARTBEAT_MS');
    expect(configError({ PRESENCE_TTL_MS: '1000', PRESENCE_HEARTBEAT_MS: '2000' }).message).toContain('presence.ttlMs');
    expect(load({ PRESENCE_TTL_MS: '5001' }).presence.ttlMs).toBe(5001);
  });

  it('maxFrameBytes may not exceed maxPayloadBytes', () => {
    const err = configError({ MAX_FRAME_BYTES: '5000', MAX_PAYLOAD_BYTES: '4096' });
    expect(err.message).toContain('maxFrameBytes');
    expect(load({ MAX_FRAME_BYTES: '4096', MAX_PAYLOAD_BYTES: '4096' }).limits.maxFrameBytes).toBe(4096);
  });

  it('maxQueuedBytes must be greater than maxBufferedBytes (history gets the difference)', () => {
    const err = configError({ MAX_QUEUED_BYTES: '65536', MAX_BUFFERED_BYTES: '65536' });
    expect(err.message).toContain('MAX_QUEUED_BYTES');
    expect(err.message).toContain('MAX_BUFFERED_BYTES');
    expect(configError({ MAX_BUFFERED_BYTES: String(32 * 1024 * 1024) }).message).toContain('limits.maxQueuedBytes');
    expect(load({ MAX_QUEUED_BYTES: '65537', MAX_BUFFERED_BYTES: '65536' }).limits.maxQueuedBytes).toBe(65537);
  });

  it('never repeats a URL or password in an error: they can hold secrets and errors reach log files', () => {
    expect(configError({ REDIS_URL: 'http://:hunter2@x' }).message).not.toContain('hunter2');
    expect(configError({ NATS_URL: 'nats://cf:hunter2@x' }).message).not.toContain('hunter2');
    expect(configError({ NATS_PASSWORD: 'hunter2' }).message).not.toContain('hunter2');
  });

  it('lists every bad option at once', () => {
    const err = configError({ PORT: 'abc', LOG_LEVEL: 'loud' });
    expect(err.message).toMatch(/\bport\b/);
    expect(err.message).toContain('log.level');
  });
});

describe('the worker refuses a bad configuration', () => {
  it('exits with status 2 and names the option on stderr (PORT=abc)', async () => {
    const proc = spawn(process.execPath, [path.join(ROOT, 'dist', 'src', 'main.js')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', PORT: 'abc', CHATFABRIC_MODE: 'memory', LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    proc.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
    clearTimeout(timer);
    expect(code).toBe(2);
    const lines = stderr.split('\n').filter(Boolean);
    expect(lines.some((l) => /invalid configuration/.test(l) && /\bport\b/.test(l))).toBe(true);
    // The error is one readable line, not a stack trace.
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});
