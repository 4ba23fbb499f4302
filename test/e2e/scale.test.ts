import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPm2Cluster, type Pm2Cluster } from '../support/pm2-cluster';
import { waitUntil } from '../support/servers';
import { startTraffic, type Traffic } from '../support/traffic';
import { ROOT } from '../support/worker';

const run = promisify(execFile);

/** `npm run scale -- N` out and in while clients chat: nobody on a surviving worker is dropped. */
describe('scale out and in under traffic (PM2 + nginx)', () => {
  let cluster: Pm2Cluster;
  let traffic: Traffic | undefined;

  beforeAll(async () => {
    cluster = await startPm2Cluster({ workers: 2 });
  }, 90_000);

  afterAll(async () => {
    traffic?.close();
    await cluster?.stop();
  }, 60_000);

  const scale = (n: number) => run(process.execPath, [path.join(ROOT, 'scripts', 'scale.js'), String(n)], { cwd: ROOT, env: cluster.env });
  const workerPids = async () => new Set((await cluster.list()).filter((p) => p.name.endsWith('-worker')).map((p) => p.pid));

  it('keeps every connection of the surviving workers, and resumes those of a removed one', async () => {
    traffic = await startTraffic({ url: cluster.wsUrl, clients: 12, room: 'scale', prefix: 's' });
    await waitUntil(() => traffic!.acked.size >= 20, 20_000, 'traffic before scaling');

    await scale(3);
    expect((await workerPids()).size).toBe(3);
    expect(traffic.closes).toEqual([]); // scaling out dropped nobody
    const confAfterOut = await run('grep', ['-c', 'server 127.0.0.1', path.join(cluster.runDir, 'nginx', 'nginx.conf')]);
    expect(confAfterOut.stdout.trim()).toBe('3');
    // New users reach the new worker too.
    const moreUsers = await startTraffic({ url: cluster.wsUrl, clients: 9, room: 'scale2', prefix: 'm' });
    const pidsNow = await workerPids();
    expect(new Set(moreUsers.clients.map((c) => Number(c.worker.slice(c.worker.lastIndexOf('-') + 1)))).size).toBeGreaterThan(1);
    await moreUsers.stop();
    moreUsers.close();

    const before = await workerPids();
    const workerOf = new Map(traffic.clients.map((c) => [c, c.worker]));
    await scale(2);
    const after = await workerPids();
    expect(after.size).toBe(2);
    const removed = [...before].filter((p) => !after.has(p));
    expect(removed).toHaveLength(1);
    // Only clients of the removed worker were closed; they came back.
    const dropped = new Set(traffic.closes.map((c) => c.split(':')[0]));
    for (const [c, worker] of workerOf) {
      const user = c.username;
      if (worker.endsWith(`-${removed[0]}`)) continue;
      expect(dropped.has(user), `${user} on a surviving worker was dropped`).toBe(false);
    }
    const atEnd = traffic.acked.size;
    await waitUntil(() => traffic!.acked.size >= atEnd + 20, 30_000, 'traffic after scaling in');
    await traffic.stop();
    const { duplicates } = await traffic.check();
    expect(duplicates).toBe(0);
    expect(pidsNow.size).toBe(3);
    console.log(`scale: 2 -> 3 -> 2 workers; ${traffic.acked.size} acknowledged, 0 lost, ${duplicates} duplicated; ${dropped.size} clients moved (all from the removed worker)`);
  }, 150_000);
});
