/**
 * Reconnect storm: starts the PM2 cluster (temporary PM2_HOME, free ports), connects N clients of
 * the project's client core through nginx, runs `pm2 reload` on the workers, and prints how the
 * reconnects spread over time and over the workers, and whether anyone was left behind.
 * Bounded: it stops the cluster and every client by itself.
 *
 *   npm run build && node dist/loadtest/reload-storm.js --clients 1000
 */
import { ChatClient } from '../tui/core/client';
import { startPm2Cluster } from '../test/support/pm2-cluster';
import { waitUntil } from '../test/support/servers';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

async function main(): Promise<void> {
  const n = arg('clients', 1000);
  const cluster = await startPm2Cluster({ workers: 2, env: { RATE_LIMIT_PER_SEC: '100', RATE_LIMIT_BURST: '100' } });
  const clients: ChatClient[] = [];
  try {
    for (let i = 0; i < n; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, n - i) }, async (_, k) => {
          const c = new ChatClient({ url: cluster.wsUrl, username: `storm${i + k}`, room: 'storm' });
          await c.connect();
          clients.push(c);
        }),
      );
    }
    const perWorker = (list: ChatClient[]) => {
      const m = new Map<string, number>();
      for (const c of list) m.set(c.worker, (m.get(c.worker) ?? 0) + 1);
      return [...m.values()].sort((a, b) => b - a).join(' / ');
    };
    console.log(`connected ${clients.length} clients; per worker ${perWorker(clients)}`);
    const t0 = performance.now();
    const welcomes: number[] = [];
    for (const c of clients) c.on('welcome', () => welcomes.push(performance.now() - t0));
    await cluster.pm2('reload', `${cluster.name}-worker`);
    await waitUntil(() => clients.every((c) => c.state === 'open'), 60_000, 'every client back');
    const settled = performance.now() - t0;
    welcomes.sort((a, b) => a - b);
    const buckets = new Map<number, number>();
    for (const t of welcomes) buckets.set(Math.floor(t / 250), (buckets.get(Math.floor(t / 250)) ?? 0) + 1);
    const peak = Math.max(...buckets.values());
    console.log(`reload done; ${welcomes.length} reconnects, all ${clients.length} clients open after ${(settled / 1000).toFixed(1)} s`);
    console.log(`reconnects per 250 ms window: peak ${peak}, over ${buckets.size} windows; per worker after: ${perWorker(clients)}`);
    const users = await clients[0].users('storm');
    console.log(`presence lists ${users.length} of ${clients.length} users in the room`);
  } finally {
    for (const c of clients) c.close();
    await cluster.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
