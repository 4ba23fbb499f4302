import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient } from '../../tui/core/client';
import { startPm2Cluster, type Pm2Cluster } from '../support/pm2-cluster';
import { waitUntil } from '../support/servers';

/**
 * The whole local fabric under PM2, through nginx: clients on every worker chat continuously
 * while `pm2 reload` restarts each worker in turn. Resuming clients must end up with every
 * acknowledged message of the others exactly once.
 */
describe('rolling reload under traffic (PM2 + nginx)', () => {
  let cluster: Pm2Cluster;
  const clients: ChatClient[] = [];

  beforeAll(async () => {
    cluster = await startPm2Cluster({ workers: 2 });
  }, 90_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.stop();
  }, 60_000);

  it('loses and duplicates nothing for resuming clients, and they spread over the workers', async () => {
    const n = 12;
    const received = new Map<string, Map<number, number>>(); // user -> id -> times seen
    const reconnectMs: number[] = [];
    const closes: string[] = [];
    for (let i = 0; i < n; i++) {
      const user = `r${i}`;
      const c = new ChatClient({ url: cluster.wsUrl, username: user, room: 'reload', backoff: { baseMs: 100, capMs: 2000 } });
      const seen = new Map<number, number>();
      received.set(user, seen);
      c.on('message', (m, meta) => {
        if (m.id !== null && !meta.own) seen.set(m.id, (seen.get(m.id) ?? 0) + 1);
      });
      let lostAt = 0;
      c.on('closed', (code: number, reason: string) => {
        lostAt = performance.now();
        closes.push(`${user}:${code}${reason ? `/${reason}` : ''}@${Date.now() % 100000}`);
      });
      c.on('welcome', () => {
        if (lostAt) reconnectMs.push(performance.now() - lostAt);
        lostAt = 0;
      });
      await c.connect();
      clients.push(c);
    }
    const workersAtStart = new Set(clients.map((c) => c.worker));
    expect(workersAtStart.size).toBe(2);

    // Every client says something every 50-150 ms until told to stop.
    const acked = new Map<number, string>(); // id -> sender
    let sending = true;
    let attempts = 0;
    const loops = clients.map(async (c, i) => {
      let k = 0;
      while (sending) {
        attempts++;
        try {
          const m = await c.say(`${c.session.slice(0, 4)}-${i}-${k++}`);
          if (m.id !== null) acked.set(m.id, `r${i}`);
        } catch {
          // not connected at that moment: the message was not accepted, so it is not counted
        }
        await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
      }
    });

    await waitUntil(() => acked.size >= 30, 20_000, 'traffic before the reload');
    const pidsBefore = (await cluster.list()).filter((p) => p.name.endsWith('-worker')).map((p) => p.pid);
    await cluster.pm2('reload', `${cluster.name}-worker`);
    const pidsAfter = (await cluster.list()).filter((p) => p.name.endsWith('-worker')).map((p) => p.pid);
    expect(pidsAfter.some((p) => pidsBefore.includes(p))).toBe(false);
    const ackedAtReloadEnd = acked.size;
    await waitUntil(() => acked.size >= ackedAtReloadEnd + 30, 30_000, 'traffic after the reload');
    sending = false;
    await Promise.all(loops);

    // Every client eventually holds every message the others had acknowledged, exactly once.
    const missing = () =>
      clients.flatMap((c, i) => {
        const seen = received.get(`r${i}`)!;
        const ids = [...acked].filter(([id, from]) => from !== `r${i}` && !seen.has(id)).map(([id]) => id);
        return ids.length ? [`r${i} (${c.state}, after ${c.tracker.resumeAfter('reload')}) misses ${ids.slice(0, 10).join(',')}`] : [];
      });
    await waitUntil(() => missing().length === 0, 45_000, 'every acknowledged message at every client').catch((err) => {
      const logs = readFileSync(path.join(cluster.runDir, 'logs', 'worker.out.log'), 'utf8').split('\n').slice(-40).join('\n');
      throw new Error(`${(err as Error).message}: ${missing().join('; ')}\ncloses: ${closes.join(' ')}\n${logs}`);
    });
    let duplicates = 0;
    for (const seen of received.values()) for (const count of seen.values()) if (count > 1) duplicates++;
    expect(duplicates).toBe(0);
    expect(reconnectMs.length).toBeGreaterThanOrEqual(n); // every client was moved at least once
    const sorted = [...reconnectMs].sort((a, b) => a - b);
    const p = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))].toFixed(0);
    console.log(
      `reload: ${acked.size} acknowledged of ${attempts} attempts, 0 lost, ${duplicates} duplicated; ` +
        `${reconnectMs.length} reconnects, p50 ${p(0.5)} ms, p99 ${p(0.99)} ms`,
    );
  }, 120_000);
});
