/**
 * Runs a real chatfabric worker (the built dist/src/main.js) as a child process and waits for
 * /readyz. Its log lines are kept for assertions and shown when a test fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { freePort, waitUntil } from './servers';

/** The repository root, found from here whether this runs as test/support or dist/test/support. */
export const ROOT = (() => {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
})();
export const MAIN = path.join(ROOT, 'dist', 'src', 'main.js');

export interface WorkerHandle {
  id: string;
  port: number;
  pid: number;
  proc: ChildProcess;
  /** ws://127.0.0.1:<port>/ws */
  wsUrl: string;
  httpUrl: string;
  logs: string[];
  /** SIGTERM (graceful drain); resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: a crash. */
  kill(): Promise<void>;
  exited: Promise<number | null>;
}

export interface WorkerOptions {
  id?: string;
  natsUrl: string;
  redisUrl: string;
  /** Isolates this test's subjects and keys from every other test's. */
  prefix: string;
  env?: Record<string, string>;
  /** Wait for /readyz (default true). */
  waitReady?: boolean;
  /** A fixed port (default: a free one). */
  port?: number;
}

let counter = 0;

export async function startWorker(opts: WorkerOptions): Promise<WorkerHandle> {
  const port = opts.port ?? (await freePort());
  const id = opts.id ?? `w${++counter}-${process.pid}`;
  const proc = spawn(process.execPath, [MAIN], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: String(port),
      WORKER_ID: id,
      NATS_URL: opts.natsUrl,
      REDIS_URL: opts.redisUrl,
      NATS_SUBJECT_PREFIX: opts.prefix,
      REDIS_KEY_PREFIX: `${opts.prefix}:`,
      LOG_LEVEL: 'info',
      PRESENCE_HEARTBEAT_MS: '500',
      PRESENCE_TTL_MS: '1500',
      PRESENCE_REAP_INTERVAL_MS: '200',
      ROOM_LINGER_MS: '100',
      // Every join and leave as its own notice, so that tests of other behaviour can wait for
      // one user's. Batching has its own tests (presence-notices.test.ts sets its own values).
      PRESENCE_NOTICE_MS: '0',
      ...opts.env,
    },
  });
  const logs: string[] = [];
  const collect = (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line) logs.push(line);
    if (logs.length > 5000) logs.splice(0, logs.length - 5000);
  };
  proc.stdout!.on('data', collect);
  proc.stderr!.on('data', collect);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const httpUrl = `http://127.0.0.1:${port}`;
  const w: WorkerHandle = {
    id,
    port,
    pid: proc.pid!,
    proc,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    httpUrl,
    logs,
    exited,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
  if (opts.waitReady !== false) {
    await waitUntil(
      async () => {
        if (proc.exitCode !== null) throw new Error(`worker exited with ${proc.exitCode}:\n${logs.join('\n')}`);
        return (await fetch(`${httpUrl}/readyz`)).ok;
      },
      20_000,
      `worker ${id} ready`,
    ).catch(async (err) => {
      await w.kill();
      throw new Error(`${(err as Error).message}\n${logs.slice(-30).join('\n')}`);
    });
  }
  return w;
}
