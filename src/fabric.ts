import { Redis } from 'ioredis';
import { connect, type NatsConnection } from 'nats';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemoryBus } from './broker/memory';
import { NatsBroker } from './broker/nats';
import type { Broker } from './broker/types';
import { natsServers, type ConfigShape } from './config';
import { MemoryHistory } from './history/memory';
import { RedisHistory } from './history/redis';
import type { History, HistoryOptions } from './history/types';
import type { Logger } from './log';
import type { Metrics } from './metrics';
import { MemoryPresence } from './presence/memory';
import { RedisPresence } from './presence/redis';
import type { Presence } from './presence/types';

/** The three seams plus what main needs to judge readiness and shut down. */
export interface Backends {
  broker: Broker;
  presence: Presence;
  history: History;
  /** True while every backing service is connected. */
  healthy(): Record<string, boolean>;
  close(): Promise<void>;
}

/** How a worker's broker validates and counts what arrives (broker/inbound.ts). */
function inboundOptions(config: ConfigShape, metrics?: Metrics) {
  return {
    limits: { maxTextLength: config.limits.maxMessageLength },
    onDrop: (reason: string, source: string) => metrics?.brokerDropped.inc({ reason, source }),
  };
}

function historyOptions(config: ConfigShape): HistoryOptions {
  const { size, idleTtlSec, maxBytes, maxRooms } = config.history;
  return { size, idleTtlMs: idleTtlSec * 1000, maxBytes, maxRooms };
}

/** Single-process mode: everything in memory, no servers. */
export function memoryBackends(config: ConfigShape, metrics?: Metrics, log?: Logger): Backends {
  return {
    broker: new MemoryBus().broker(config.worker.id, { ...inboundOptions(config, metrics), log }),
    presence: new MemoryPresence({ ttlMs: config.presence.ttlMs }),
    history: new MemoryHistory(historyOptions(config)),
    healthy: () => ({ nats: true, redis: true, subscriptions: true }),
    close: async () => undefined,
  };
}

/**
 * Connects to NATS and Redis, retrying each until it answers and saying so in the log, never
 * crashing. Resolves once both are connected; `signal` aborts the wait (shutdown during start).
 */
export async function fabricBackends(config: ConfigShape, log: Logger, metrics: Metrics, signal: AbortSignal): Promise<Backends> {
  const redis = new Redis(config.redis.url, {
    lazyConnect: true,
    // Fail fast while disconnected: presence and history degrade, chat goes on.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: config.redis.commandTimeoutMs,
    enableAutoPipelining: true,
    retryStrategy: (times) => Math.min(200 * times, 2000),
    connectionName: `chatfabric-${config.worker.id}`,
  });
  let redisUp = false;
  let lastRedisWarn = 0;
  redis.on('ready', () => {
    redisUp = true;
    metrics.redisConnected.set(1);
    log.info({ url: redactUrl(config.redis.url) }, 'Redis connected');
  });
  redis.on('error', (err) => {
    // ioredis emits an error per failed attempt; say it at most every 5 s.
    if (Date.now() - lastRedisWarn < 5000) return;
    lastRedisWarn = Date.now();
    log.warn({ url: redactUrl(config.redis.url), err: err.message }, redisUp ? 'Redis connection lost; retrying' : 'waiting for Redis; retrying');
  });
  redis.on('end', () => metrics.redisConnected.set(0));
  redis.on('close', () => {
    if (redisUp) log.warn('Redis connection closed; presence and history degrade until it is back');
    redisUp = false;
    metrics.redisConnected.set(0);
  });
  const redisReady = redis.connect().catch(() => undefined).then(() => waitFor(() => redis.status === 'ready', signal));

  const nc = await connectNats(config, log, signal);
  metrics.natsConnected.set(1);
  const broker = new NatsBroker(nc, {
    prefix: config.nats.subjectPrefix,
    worker: config.worker.id,
    requestTimeoutMs: config.nats.requestTimeoutMs,
    log,
    onStatus: (s) => metrics.natsConnected.set(s === 'connected' ? 1 : 0),
    inbound: inboundOptions(config, metrics),
  });
  // Ready only once direct messages can find this worker.
  await Promise.all([redisReady, broker.ready()]);

  const prefix = config.redis.keyPrefix;
  return {
    broker,
    presence: new RedisPresence(redis, { prefix, ttlMs: config.presence.ttlMs }),
    history: new RedisHistory(redis, { prefix, ...historyOptions(config) }),
    healthy: () => ({ nats: broker.status === 'connected', redis: redis.status === 'ready', subscriptions: broker.lostSubscriptions().length === 0 }),
    close: async () => {
      await broker.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

async function connectNats(config: ConfigShape, log: Logger, signal: AbortSignal): Promise<NatsConnection> {
  const servers = natsServers(config);
  for (let attempt = 1; ; attempt++) {
    signal.throwIfAborted();
    try {
      const nc = await connect({
        servers,
        ...(config.nats.user && { user: config.nats.user, pass: config.nats.password }),
        name: `chatfabric-${config.worker.id}`,
        timeout: 2000,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        reconnectJitter: 250,
        pingInterval: 10_000,
      });
      log.info({ server: nc.getServer(), servers }, 'NATS connected');
      return nc;
    } catch (err) {
      const wait = Math.min(500 * attempt, 5000);
      log.warn({ servers, attempt, err: (err as Error).message }, `waiting for NATS; retrying in ${wait} ms`);
      await sleep(wait, undefined, { signal });
    }
  }
}

async function waitFor(cond: () => boolean, signal: AbortSignal): Promise<void> {
  while (!cond()) {
    signal.throwIfAborted();
    await sleep(100, undefined, { signal });
  }
}

/** Hides a password in a URL before it reaches the log. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}
