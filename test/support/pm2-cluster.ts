/**
 * Runs the real local cluster (ecosystem.config.js: nats-server, redis-server, PM2 cluster-mode
 * workers, nginx) under a temporary PM2_HOME and run directory, on free loopback ports, so it
 * never touches a user's PM2 daemon or a running chatfabric. stop() deletes the apps, kills that
 * PM2 daemon and removes the temporary directories.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, waitUntil } from './servers';
import { ROOT } from './worker';

const run = promisify(execFile);
const PM2 = path.join(ROOT, 'node_modules', 'pm2', 'bin', 'pm2');

export interface Pm2Cluster {
  name: string;
  env: NodeJS.ProcessEnv;
  publicPort: number;
  wsUrl: string;
  workerPorts: number[];
  redisPort: number;
  natsPort: number;
  /** The embedded Redis, with the password generated for this run directory. */
  redisUrl: string;
  /** The embedded NATS; it accepts only `natsUser` / `natsPassword`. */
  natsUrl: string;
  natsUser: string;
  natsPassword: string;
  runDir: string;
  pm2(...args: string[]): Promise<string>;
  /** PM2's process list for this cluster. */
  list(): Promise<{ name: string; pid: number; status: string; instance: number; restarts: number }[]>;
  stop(): Promise<void>;
}

/** A run of `count` consecutive free ports. */
async function freeRange(count: number): Promise<number> {
  for (;;) {
    const base = 20000 + Math.floor(Math.random() * 20000);
    const ok = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        new Promise<boolean>((resolve) => {
          const net = require('node:net') as typeof import('node:net');
          const srv = net.createServer();
          srv.once('error', () => resolve(false));
          srv.listen(base + i, '127.0.0.1', () => srv.close(() => resolve(true)));
        }),
      ),
    );
    if (ok.every(Boolean)) return base;
  }
}

export async function startPm2Cluster(opts: { workers?: number; env?: Record<string, string> } = {}): Promise<Pm2Cluster> {
  const workers = opts.workers ?? 2;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cf-e2e-'));
  const [publicPort, natsPort, natsMonitorPort, redisPort, workerBase] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freeRange(8),
  ];
  const name = `cfe2e${process.pid}${Math.floor(Math.random() * 1000)}`;
  const env: NodeJS.ProcessEnv = {
    PATH: `${process.env.PATH ?? ''}:/usr/sbin`,
    HOME: process.env.HOME ?? tmp,
    PM2_HOME: path.join(tmp, 'pm2'),
    CHATFABRIC_RUN_DIR: path.join(tmp, 'run'),
    CHATFABRIC_NAME: name,
    CHATFABRIC_WORKERS: String(workers),
    CHATFABRIC_PORT: String(publicPort),
    CHATFABRIC_WORKER_PORT_BASE: String(workerBase),
    CHATFABRIC_NATS_PORT: String(natsPort),
    CHATFABRIC_NATS_MONITOR_PORT: String(natsMonitorPort),
    CHATFABRIC_REDIS_PORT: String(redisPort),
    DRAIN_TIMEOUT_MS: '5000',
    LOG_LEVEL: 'info',
    // As scripts/start.sh: the PM2 daemon (the cluster master) stays off the connection path.
    NODE_CLUSTER_SCHED_POLICY: 'none',
    ...opts.env,
  };
  const pm2 = async (...args: string[]) => (await run(process.execPath, [PM2, ...args], { cwd: ROOT, env, maxBuffer: 16 << 20 })).stdout;
  // The credentials ecosystem.config.js gives the embedded servers (made here first, same files).
  const clusterJs = require(path.join(ROOT, 'scripts', 'cluster.js')) as {
    settings(env: NodeJS.ProcessEnv): unknown;
    secrets(s: unknown): { natsUser: string; natsPassword: string; redisPassword: string };
  };
  const secrets = clusterJs.secrets(clusterJs.settings(env));
  const cluster: Pm2Cluster = {
    name,
    env,
    publicPort,
    wsUrl: `ws://127.0.0.1:${publicPort}/ws`,
    workerPorts: Array.from({ length: workers }, (_, i) => workerBase + i),
    redisPort,
    natsPort,
    redisUrl: `redis://:${secrets.redisPassword}@127.0.0.1:${redisPort}`,
    natsUrl: `nats://127.0.0.1:${natsPort}`,
    natsUser: secrets.natsUser,
    natsPassword: secrets.natsPassword,
    runDir: path.join(tmp, 'run'),
    pm2,
    async list() {
      const procs = JSON.parse(await pm2('jlist')) as any[];
      return procs.map((p) => ({
        name: p.name,
        pid: p.pid,
        status: p.pm2_env.status,
        instance: Number(p.pm2_env.NODE_APP_INSTANCE ?? 0),
        restarts: p.pm2_env.restart_time,
      }));
    },
    async stop() {
      await pm2('delete', `${name}-worker`).catch(() => undefined);
      await pm2('delete', 'all').catch(() => undefined);
      await pm2('kill').catch(() => undefined);
      rmSync(tmp, { recursive: true, force: true });
    },
  };
  try {
    await pm2('start', path.join(ROOT, 'ecosystem.config.js'));
    // nginx answers /ws only by passing it on: a worker's 426 to a plain GET proves the path through nginx.
    await waitUntil(async () => (await fetch(`http://127.0.0.1:${publicPort}/ws`)).status === 426, 30_000, 'the cluster through nginx');
    for (const p of cluster.workerPorts) {
      await waitUntil(async () => (await fetch(`http://127.0.0.1:${p}/readyz`)).ok, 30_000, `worker on ${p}`);
    }
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
