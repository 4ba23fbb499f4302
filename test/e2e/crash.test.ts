import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient } from '../../tui/core/client';
import { startPm2Cluster, type Pm2Cluster } from '../support/pm2-cluster';
import { waitUntil } from '../support/servers';
import { percentile, startTraffic, type Traffic } from '../support/traffic';

/**
 * SIGKILL one worker under traffic: PM2 restarts it, its clients reconnect through nginx and
 * resume with nothing lost, and a user who does not come back vanishes within the TTL.
 */
describe('worker crash under traffic (PM2 + nginx)', () => {
  let cluster: Pm2Cluster;
  let traffic: Traffic | undefined;
  let quitter: ChatClient | undefined;
  const observers: ChatClient[] = [];

  beforeAll(async () => {
    cluster = await startPm2Cluster({ workers: 2, env: { PRESENCE_HEARTBEAT_MS: '500', PRESENCE_TTL_MS: '2000' } });
  }, 90_000);

  afterAll(async () => {
    traffic?.close();
    quitter?.close();
    for (const o of observers) o.close();
    await cluster?.stop();
  }, 60_000);

  it('restarts the worker, loses nothing for resuming clients, and removes users who do not return', async () => {
    traffic = await startTraffic({ url: cluster.wsUrl, clients: 10, room: 'crash', prefix: 'c' });
    await waitUntil(() => traffic!.acked.size >= 30, 20_000, 'traffic before the crash');

    const workers = (await cluster.list()).filter((p) => p.name.endsWith('-worker'));
    const victim = workers[0];
    // A user on the victim's worker that will not reconnect: its ghost must go within the TTL.
    for (let i = 0; ; i++) {
      const c = new ChatClient({ url: cluster.wsUrl, username: `q${i}`, room: 'crash', reconnect: false });
      await c.connect();
      if (c.worker.endsWith(`-${victim.pid}`)) {
        quitter = c;
        break;
      }
      c.close();
    }
    const quitterName = quitter.username;
    // A quiet observer on the surviving worker (the traffic clients use up their rate budget).
    let observer: ChatClient;
    for (let i = 0; ; i++) {
      observer = new ChatClient({ url: cluster.wsUrl, username: `obs${i}`, room: 'crash', reconnect: false });
      await observer.connect();
      if (!observer.worker.endsWith(`-${victim.pid}`)) break;
      observer.close();
    }
    observers.push(observer);
    expect(await observer.users('crash')).toContain(quitterName);

    const killedAt = performance.now();
    process.kill(victim.pid, 'SIGKILL');
    await waitUntil(
      async () => (await cluster.list()).some((p) => p.instance === victim.instance && p.status === 'online' && p.pid !== victim.pid),
      30_000,
      'PM2 to restart the killed worker',
    );
    let lastSeen: unknown = null;
    await waitUntil(
      async () => {
        await new Promise((r) => setTimeout(r, 100)); // one request per poll, well under the rate limit
        lastSeen = await observer.users('crash').catch((e: Error) => `error: ${e.message} (observer ${observer.state})`);
        return Array.isArray(lastSeen) && !lastSeen.includes(quitterName);
      },
      10_000,
      'the ghost to vanish',
    ).catch((err) => {
      throw new Error(`${(err as Error).message}; last users(): ${JSON.stringify(lastSeen)}; closes: ${traffic!.closes.join(' ')}`);
    });
    const ghostMs = performance.now() - killedAt;
    const atRestart = traffic.acked.size;
    await waitUntil(() => traffic!.acked.size >= atRestart + 30, 30_000, 'traffic after the crash');
    await traffic.stop();

    const { duplicates } = await traffic.check();
    expect(duplicates).toBe(0);
    // Every client that was on the victim came back: all ten are in the room again.
    const users = await observer.users('crash');
    for (let i = 0; i < 10; i++) expect(users).toContain(`c${i}`);
    expect(ghostMs).toBeLessThan(2000 + 1500); // TTL plus reap and heartbeat slack
    console.log(
      `crash: ${traffic.acked.size} acknowledged, 0 lost, ${duplicates} duplicated; ghost gone after ${ghostMs.toFixed(0)} ms; ` +
        `reconnect p50 ${percentile(traffic.reconnectMs, 0.5).toFixed(0)} ms, p99 ${percentile(traffic.reconnectMs, 0.99).toFixed(0)} ms`,
    );
  }, 150_000);
});
