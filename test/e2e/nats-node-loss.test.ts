import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient } from '../../tui/core/client';
import { startPm2Cluster, type Pm2Cluster } from '../support/pm2-cluster';
import { freePort, startNats, waitUntil, type ServerHandle } from '../support/servers';
import { startTraffic, type Traffic } from '../support/traffic';

/**
 * A 3-node NATS cluster on loopback (the several-machines case on one box) behind the PM2
 * cluster: workers connect to nodes of it; killing the node a worker uses moves that worker to
 * another node and chat between all workers goes on.
 */
describe('NATS node loss under traffic (PM2 + nginx + 3-node NATS cluster)', () => {
  const nodes: ServerHandle[] = [];
  let cluster: Pm2Cluster;
  let traffic: Traffic | undefined;

  beforeAll(async () => {
    const routes = [await freePort(), await freePort(), await freePort()];
    const url = (p: number) => `nats://127.0.0.1:${p}`;
    for (let i = 0; i < 3; i++) {
      const others = routes.filter((_, j) => j !== i).map(url).join(',');
      nodes.push(await startNats({ name: `n${i}`, extraArgs: ['--cluster_name', 'cf', '--cluster', url(routes[i]), '--routes', others] }));
    }
    cluster = await startPm2Cluster({ workers: 3, env: { NATS_URL: nodes.map((n) => n.url).join(',') } });
  }, 90_000);

  afterAll(async () => {
    traffic?.close();
    await cluster?.stop();
    await Promise.all(nodes.map((n) => n.stop()));
  }, 60_000);

  it('keeps delivering across all workers after a NATS node dies', async () => {
    traffic = await startTraffic({ url: cluster.wsUrl, clients: 9, room: 'natsloss', prefix: 'n' });
    expect(new Set(traffic.clients.map((c) => c.worker)).size).toBeGreaterThan(1);
    // Routes between the nodes form asynchronously: wait until traffic crosses every worker.
    await waitUntil(() => traffic!.acked.size >= 30, 20_000, 'traffic before the node loss');

    // Kill a node some worker is connected to.
    const log = readFileSync(path.join(cluster.runDir, 'logs', 'worker.out.log'), 'utf8');
    const used = new Set([...log.matchAll(/"server":"127\.0\.0\.1:(\d+)"[^\n]*NATS connected/g)].map((m) => Number(m[1])));
    const victim = nodes.find((n) => used.has(n.port))!;
    expect(victim).toBeDefined();
    await victim.kill();

    // Every client receives a fresh message from every other worker's clients after the loss.
    const marks = new Map<ChatClient, Set<string>>(traffic.clients.map((c) => [c, new Set<string>()]));
    for (const c of traffic.clients) c.on('message', (m) => m.text.startsWith('mark-') && marks.get(c)!.add(m.from));
    await waitUntil(
      async () => {
        await new Promise((r) => setTimeout(r, 300)); // pace the markers well under the rate limit
        await Promise.all(traffic!.clients.map((c, i) => c.say(`mark-${i}-${Date.now()}`).catch(() => undefined)));
        return traffic!.clients.every((c) => {
          const from = marks.get(c)!;
          return traffic!.clients.every((o) => o === c || o.worker === c.worker || from.has(o.username));
        });
      },
      30_000,
      'messages across all workers after the node loss',
    );
    await waitUntil(
      () => readFileSync(path.join(cluster.runDir, 'logs', 'worker.out.log'), 'utf8').includes('NATS reconnected'),
      15_000,
      'a worker to log its reconnect',
    );
    await traffic.stop();
    console.log(`nats node loss: killed ${victim.url}; delivery continued across ${new Set(traffic.clients.map((c) => c.worker)).size} workers`);
  }, 150_000);
});
