/**
 * scripts/cluster.js generates the embedded servers' credentials once per run directory, keeps
 * them private, and checks the Redis memory limit it is given.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const cluster = require('../../scripts/cluster.js');

describe('cluster secrets', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cf-secrets-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('creates them once per run directory, private, and reuses them on every later start', () => {
    const s = cluster.settings({ CHATFABRIC_RUN_DIR: path.join(tmp, 'a') });
    const first = cluster.secrets(s);
    expect(first.natsPassword).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(first.redisPassword).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(first.natsPassword).not.toBe(first.redisPassword);
    expect(statSync(first.dir).mode & 0o777).toBe(0o700);
    for (const f of ['nats-password', 'redis-password', 'nats.conf', 'redis.conf']) {
      expect(statSync(path.join(first.dir, f)).mode & 0o777, f).toBe(0o600);
    }
    expect(readFileSync(first.natsConf, 'utf8')).toContain(`password: "${first.natsPassword}"`);
    expect(readFileSync(first.redisConf, 'utf8')).toContain(`requirepass ${first.redisPassword}\n`);
    expect(cluster.secrets(cluster.settings({ CHATFABRIC_RUN_DIR: path.join(tmp, 'a') }))).toEqual(first);
    // Another run directory, other secrets.
    expect(cluster.secrets(cluster.settings({ CHATFABRIC_RUN_DIR: path.join(tmp, 'b') })).natsPassword).not.toBe(first.natsPassword);
  });

  it('takes CHATFABRIC_REDIS_MAXMEMORY as a Redis size, 256mb by default', () => {
    expect(cluster.settings({}).redisMaxMemory).toBe('256mb');
    expect(cluster.settings({ CHATFABRIC_REDIS_MAXMEMORY: '1GB' }).redisMaxMemory).toBe('1gb');
    expect(cluster.settings({ CHATFABRIC_REDIS_MAXMEMORY: '1048576' }).redisMaxMemory).toBe('1048576');
    expect(() => cluster.settings({ CHATFABRIC_REDIS_MAXMEMORY: 'lots' })).toThrow(/CHATFABRIC_REDIS_MAXMEMORY must be a size/);
  });
});
