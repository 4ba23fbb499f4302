/**
 * Worker entry: load config, listen at once (so /healthz answers), connect NATS and Redis with
 * retries, then serve chat; on SIGINT/SIGTERM drain within a bounded time and exit.
 */
import cluster from 'node:cluster';
import { createAuthenticator, type Authenticator } from './auth';
import { allowedOrigins, ConfigError, loadConfig, type ConfigShape } from './config';
import { fabricBackends, memoryBackends, type Backends } from './fabric';
import { createLogger } from './log';
import { Metrics } from './metrics';
import { ChatNode } from './node';
import { createServer } from './server';
import { clientSettings, webClientFor } from './web';

async function main(): Promise<void> {
  let config: ConfigShape;
  let auth: Authenticator | null;
  try {
    config = loadConfig();
    auth = await createAuthenticator(config);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`chatfabric: ${err.message}\n`);
    process.exit(2);
  }
  const log = createLogger({ level: config.log.level, pretty: config.log.pretty, worker: config.worker.id, shard: config.worker.shard });
  const metrics = new Metrics({ worker: config.worker.id });
  const abort = new AbortController();
  let backends: Backends | null = null;
  let node: ChatNode | null = null;
  let stopping = false;

  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));

  const server = createServer({
    maxPayloadBytes: config.limits.maxPayloadBytes,
    maxConnections: config.limits.maxConnections,
    addressLimits: config.limits,
    log,
    metrics,
    worker: config.worker.id,
    auth,
    allowedOrigins: allowedOrigins(config),
    clientSettings: clientSettings(config),
    web: webClientFor(config, log),
    node: () => node,
    readiness: () => {
      const checks = backends ? backends.healthy() : { nats: false, redis: false, subscriptions: false };
      return { ready: !!node && !stopping && Object.values(checks).every(Boolean), checks: { ...checks, draining: stopping } };
    },
  });
  server.on('error', (err) => {
    log.fatal({ err, port: config.port }, 'cannot listen');
    process.exit(1);
  });
  await new Promise<void>((resolve) => server.listen(config.port, config.host, resolve));
  log.info({ host: config.host, port: config.port, mode: config.mode, auth: config.auth.mode }, 'listening');

  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, budgetMs: config.drain.timeoutMs }, 'draining');
    const deadline = setTimeout(() => {
      log.warn('drain budget exceeded; exiting anyway');
      process.exit(1);
    }, config.drain.timeoutMs);
    deadline.unref();
    abort.abort();
    // Under PM2 cluster mode the port is shared with the replacement process: stop listening at
    // once so new connections go to it rather than to us. Standalone (a container), keep listening
    // while draining, so /readyz answers 503 and upgrades are refused.
    if (cluster.isWorker) server.close();
    await node?.drain();
    await backends?.close();
    if (server.listening) server.close();
    log.info('drained; bye');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  try {
    backends = config.mode === 'memory' ? memoryBackends(config, metrics, log) : await fabricBackends(config, log, metrics, abort.signal);
  } catch (err) {
    if (abort.signal.aborted) return; // shutting down before we were up
    throw err;
  }
  node = new ChatNode({ ...backends, config, log, metrics });
  node.start();
  log.info('ready');
  // PM2's wait_ready: report ready only once NATS and Redis are connected.
  process.send?.('ready');
}

main().catch((err) => {
  process.stderr.write(`chatfabric: fatal: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
