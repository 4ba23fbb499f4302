import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPm2Cluster, type Pm2Cluster } from '../support/pm2-cluster';
import { waitUntil } from '../support/servers';
import { percentile, startTraffic, type Traffic } from '../support/traffic';

/**
 * The whole local fabric under PM2, through nginx: clients on every worker chat continuously
 * while `pm2 reload` restarts each worker in turn. Resuming clients must end up with every
 * acknowledged message of the others exactly once.
 */
describe('rolling reload under traffic (PM2 + nginx)', () => {
  let cluster: Pm2Cluster;
  let traffic: Traffic | undefined;

  beforeAll(async () => {
    cluster = await startPm2Cluster({ workers: 2 });
  }, 90_000);

  afterAll(async () => {
    traffic?.close();
    await cluster?.stop();
  }, 60_000);

  it('loses and duplicates nothing for resuming clients, and they spread over the workers', async () => {
    const n = 12;
    traffic = await startTraffic({ url: cluster.wsUrl, clients: n, room: 'reload', prefix: 'r' });
    expect(new Set(traffic.clients.map((c) => c.worker)).size).toBe(2);

    await waitUntil(() => traffic!.acked.size >= 30, 20_000, 'traffic before the reload');
    const workers = async () => (await cluster.list()).filter((p) => p.name.endsWith('-worker')).map((p) => p.pid);
    const before = await workers();
    await cluster.pm2('reload', `${cluster.name}-worker`);
    expect((await workers()).some((p) => before.includes(p))).toBe(false);
    const atEnd = traffic.acked.size;
    await waitUntil(() => traffic!.acked.size >= atEnd + 30, 30_000, 'traffic after the reload');
    await traffic.stop();

    const { duplicates } = await traffic.check();
    expect(duplicates).toBe(0);
    expect(traffic.reconnectMs.length).toBeGreaterThanOrEqual(n); // every client was moved at least once
    console.log(
      `reload: ${traffic.acked.size} acknowledged of ${traffic.attempts()} attempts, 0 lost, ${duplicates} duplicated; ` +
        `${traffic.reconnectMs.length} reconnects, p50 ${percentile(traffic.reconnectMs, 0.5).toFixed(0)} ms, ` +
        `p99 ${percentile(traffic.reconnectMs, 0.99).toFixed(0)} ms`,
    );
  }, 150_000);
});
