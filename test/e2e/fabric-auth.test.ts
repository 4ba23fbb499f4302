import { readFileSync, readdirSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';
import { connect as natsConnect } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient } from '../../tui/core/client';
import { startPm2Cluster, type Pm2Cluster } from '../support/pm2-cluster';
import { waitUntil } from '../support/servers';

/**
 * The embedded nats-server and redis-server of `npm start` (ecosystem.config.js) accept only the
 * credentials generated into the run directory, which only the workers are given: a stranger on
 * the machine can neither publish into the chat fabric nor read or write Redis. The secrets stay
 * out of process lists and logs, and the embedded Redis has a memory limit with noeviction.
 */
describe('embedded NATS and Redis require credentials (PM2 + nginx)', () => {
  let cluster: Pm2Cluster;
  const clients: ChatClient[] = [];

  beforeAll(async () => {
    cluster = await startPm2Cluster({ workers: 2 });
  }, 90_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.stop();
  }, 60_000);

  it('refuses an unauthenticated NATS client and accepts the workers\' credentials', async () => {
    const err = await natsConnect({ servers: cluster.natsUrl, reconnect: false }).then(
      async (nc) => {
        await nc.close();
        return null;
      },
      (e: { code?: string }) => e,
    );
    expect(err?.code).toBe('AUTHORIZATION_VIOLATION');
    const wrong = await natsConnect({ servers: cluster.natsUrl, user: cluster.natsUser, pass: 'guess', reconnect: false }).catch((e: { code?: string }) => e);
    expect((wrong as { code?: string }).code).toBe('AUTHORIZATION_VIOLATION');
    const nc = await natsConnect({ servers: cluster.natsUrl, user: cluster.natsUser, pass: cluster.natsPassword });
    await nc.flush();
    await nc.close();
  });

  it('refuses Redis commands without the password; the limit is set with noeviction', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const s = net.connect(cluster.redisPort, '127.0.0.1', () => s.write('KEYS *\r\n'));
      s.once('data', (d) => {
        s.destroy();
        resolve(d.toString());
      });
      s.once('error', reject);
    });
    expect(reply).toMatch(/^-NOAUTH/);
    const redis = new Redis(cluster.redisUrl);
    try {
      expect(await redis.config('GET', 'maxmemory')).toEqual(['maxmemory', String(256 * 1024 * 1024)]);
      expect(await redis.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
    } finally {
      redis.disconnect();
    }
  });

  it('chat works through the authenticated fabric, and the secrets are in no process list, log or world-readable file', async () => {
    let a: ChatClient | undefined;
    let b: ChatClient | undefined;
    for (let i = 0; !(a && b); i++) {
      const c = new ChatClient({ url: cluster.wsUrl, username: `auth${i}`, room: 'auth' });
      await c.connect();
      clients.push(c);
      if (!a) a = c;
      else if (c.worker !== a.worker) b = c;
    }
    const got: string[] = [];
    b.on('message', (m) => got.push(m.text));
    const ack = await a.say('across authenticated workers');
    expect(typeof ack.id).toBe('number');
    await waitUntil(() => got.includes('across authenticated workers'), 10_000, 'the message on the other worker');

    const secretsDir = path.join(cluster.runDir, 'secrets');
    expect(statSync(secretsDir).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(secretsDir)) expect(statSync(path.join(secretsDir, f)).mode & 0o777, f).toBe(0o600);

    const secrets = [cluster.natsPassword, readFileSync(path.join(secretsDir, 'redis-password'), 'utf8').trim()];
    for (const p of await cluster.list()) {
      const cmdline = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8');
      for (const s of secrets) expect(cmdline, `${p.name}'s command line`).not.toContain(s);
    }
    const logs = readdirSync(path.join(cluster.runDir, 'logs')).map((f) => readFileSync(path.join(cluster.runDir, 'logs', f), 'utf8'));
    expect(logs.join('').length).toBeGreaterThan(0);
    for (const s of secrets) expect(logs.some((l) => l.includes(s))).toBe(false);
  });
});
