/**
 * Vitest global setup: builds once (integration tests run dist/, the real artefact; the browser tests load dist/web)
 * and starts one real nats-server and one real redis-server for the whole run. Each test file
 * isolates itself with its own subject and key prefix. Everything is stopped by PID at the end.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startNats, startRedis, type ServerHandle } from './servers';

declare module 'vitest' {
  export interface ProvidedContext {
    natsUrl: string;
    redisUrl: string;
  }
}

let servers: ServerHandle[] = [];

export async function setup(project: TestProject): Promise<() => Promise<void>> {
  const root = path.resolve(__dirname, '..', '..');
  execFileSync(process.execPath, [path.join(root, 'scripts', 'build.js'), '--if-stale'], { stdio: 'inherit' });
  const [nats, redis] = await Promise.all([startNats(), startRedis()]);
  servers = [nats, redis];
  project.provide('natsUrl', nats.url);
  project.provide('redisUrl', redis.url);
  return async () => {
    await Promise.all(servers.map((s) => s.stop()));
  };
}
