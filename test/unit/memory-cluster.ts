/**
 * In-process chat nodes in memory mode, served on 127.0.0.1 with the real HTTP/WebSocket server.
 * Several nodes made from one MemoryBus, one MemoryPresence and one MemoryHistory behave as
 * workers of one cluster. Every client opened through the cluster is closed by close().
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach } from 'vitest';
import { MemoryBus } from '../../src/broker/memory';
import { createAuthenticator } from '../../src/auth';
import { allowedOrigins, loadConfig, type ConfigShape } from '../../src/config';
import { MemoryHistory } from '../../src/history/memory';
import type { History } from '../../src/history/types';
import { Metrics } from '../../src/metrics';
import { ChatNode } from '../../src/node';
import { MemoryPresence } from '../../src/presence/memory';
import type { Presence } from '../../src/presence/types';
import { createServer } from '../../src/server';
import { clientSettings, webClientFor } from '../../src/web';
import { connect, connectLegacy, connectV1, type ConnectOptions, type TestClient } from '../support/client';

export interface MemoryNode {
  node: ChatNode;
  server: http.Server;
  metrics: Metrics;
  config: ConfigShape;
  wsUrl: string;
  httpUrl: string;
}

export interface ClusterOptions {
  /** Number of nodes (workers); default 2. */
  nodes?: number;
  /** Extra environment for loadConfig (CHATFABRIC_MODE=memory and LOG_LEVEL=silent are set). */
  env?: Record<string, string>;
  /** Replaces the shared MemoryPresence (for example with one that can be paused). */
  presence?: (config: ConfigShape) => Presence;
  history?: (config: ConfigShape) => History;
}

export class MemoryCluster {
  readonly nodes: MemoryNode[] = [];
  readonly clients: TestClient[] = [];
  readonly bus = new MemoryBus();
  readonly config: ConfigShape;
  readonly presence: Presence;
  readonly history: History;

  constructor(opts: ClusterOptions) {
    this.config = loadConfig({ env: { CHATFABRIC_MODE: 'memory', LOG_LEVEL: 'silent', ...opts.env }, args: [] });
    this.presence = opts.presence?.(this.config) ?? new MemoryPresence({ ttlMs: this.config.presence.ttlMs });
    this.history =
      opts.history?.(this.config) ??
      new MemoryHistory({ size: this.config.history.size, idleTtlMs: this.config.history.idleTtlSec * 1000 });
  }

  /** ws URL of node i. */
  url(i = 0): string {
    return this.nodes[i].wsUrl;
  }

  track(c: TestClient): TestClient {
    this.clients.push(c);
    return c;
  }

  async v1(i: number, user: string | null, opts: Omit<ConnectOptions, 'v1'> = {}): Promise<TestClient> {
    return this.track(await connectV1(this.url(i), user, opts));
  }

  async legacy(i: number, user: string): Promise<TestClient> {
    return this.track(await connectLegacy(this.url(i), user));
  }

  /** Opens a socket without waiting for any frame. */
  async raw(i: number, user: string | null, opts: ConnectOptions = {}): Promise<TestClient> {
    return this.track(await connect(this.url(i), user, opts));
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.terminate();
    await Promise.all(this.clients.map((c) => c.closed));
    for (const n of this.nodes) {
      await n.node.drain();
      n.server.closeAllConnections();
      await new Promise<void>((resolve) => n.server.close(() => resolve()));
    }
  }
}

export async function startCluster(opts: ClusterOptions = {}): Promise<MemoryCluster> {
  const cluster = new MemoryCluster(opts);
  const log = pino({ level: 'silent' });
  const count = opts.nodes ?? 2;
  const auth = await createAuthenticator(cluster.config);
  for (let i = 0; i < count; i++) {
    const config: ConfigShape = { ...cluster.config, worker: { id: `n${i}`, shard: String(i) } };
    const metrics = new Metrics({ worker: config.worker.id });
    const node = new ChatNode({ broker: cluster.bus.broker(config.worker.id), presence: cluster.presence, history: cluster.history, config, log, metrics });
    node.start();
    const server = createServer({
      maxPayloadBytes: config.limits.maxPayloadBytes,
      maxConnections: config.limits.maxConnections,
      log,
      metrics,
      worker: config.worker.id,
      auth,
      allowedOrigins: allowedOrigins(config),
      clientSettings: clientSettings(config),
      web: webClientFor(config, log),
      node: () => node,
      readiness: () => ({ ready: true, checks: { nats: true, redis: true } }),
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    cluster.nodes.push({ node, server, metrics, config, wsUrl: `ws://127.0.0.1:${port}/ws`, httpUrl: `http://127.0.0.1:${port}` });
  }
  return cluster;
}

/**
 * For a test file whose tests each start one memory cluster: returns the start function and
 * closes that test's cluster after it.
 */
export function clusterPerTest(): (opts?: ClusterOptions) => Promise<MemoryCluster> {
  let cluster: MemoryCluster | null = null;
  afterEach(async () => {
    await cluster?.close();
    cluster = null;
  });
  return async (opts = {}) => (cluster = await startCluster(opts));
}
