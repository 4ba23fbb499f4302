import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient } from '../../tui/core/client';
import { startPm2Cluster, type Pm2Cluster } from '../support/pm2-cluster';
import { waitUntil } from '../support/servers';

/** Redis goes away and comes back under PM2: chat keeps flowing, presence and history recover. */
describe('Redis restart (PM2 + nginx)', () => {
  let cluster: Pm2Cluster;
  const clients: ChatClient[] = [];

  beforeAll(async () => {
    cluster = await startPm2Cluster({ workers: 2, env: { PRESENCE_HEARTBEAT_MS: '1000', PRESENCE_TTL_MS: '3000' } });
  }, 90_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.stop();
  }, 60_000);

  it('delivers between workers while Redis is down and re-asserts presence within a heartbeat after', async () => {
    // Two users on different workers.
    let a: ChatClient | undefined;
    let b: ChatClient | undefined;
    for (let i = 0; !(a && b); i++) {
      const c = new ChatClient({ url: cluster.wsUrl, username: `p${i}`, room: 'redis' });
      await c.connect();
      clients.push(c);
      if (!a) a = c;
      else if (c.worker !== a.worker) b = c;
    }
    const got: { text: string; id: number | null }[] = [];
    b.on('message', (m) => got.push({ text: m.text, id: m.id }));
    await a.say('before');
    await waitUntil(() => got.some((m) => m.text === 'before' && typeof m.id === 'number'), 5000, 'a message before the outage');

    await cluster.pm2('stop', `${cluster.name}-redis`);
    await waitUntil(async () => !(await fetch(`http://127.0.0.1:${cluster.workerPorts[0]}/readyz`)).ok, 10_000, 'workers to notice');
    const during = await a.say('during');
    expect(during.id).toBeNull(); // no history while Redis is away, but delivered live
    await waitUntil(() => got.some((m) => m.text === 'during' && m.id === null), 5000, 'a message during the outage');

    const restartedAt = performance.now();
    await cluster.pm2('start', `${cluster.name}-redis`);
    await waitUntil(async () => (await fetch(`http://127.0.0.1:${cluster.workerPorts[0]}/readyz`)).ok, 15_000, 'workers ready again');
    const readyMs = performance.now() - restartedAt;
    await waitUntil(
      async () => {
        const users = await a!.users('redis').catch(() => []);
        return users.includes(a!.username) && users.includes(b!.username);
      },
      5000,
      'presence re-asserted',
    );
    const presenceMs = performance.now() - restartedAt;
    const after = await a.say('after');
    expect(typeof after.id).toBe('number');
    await waitUntil(() => got.some((m) => m.text === 'after'), 5000, 'a message after the outage');
    console.log(`redis restart: workers ready ${readyMs.toFixed(0)} ms after Redis started, presence back after ${presenceMs.toFixed(0)} ms`);
  }, 120_000);
});
