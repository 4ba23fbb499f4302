import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOutageLoad, stopFor, tally, workerReady as ready, type ChatLoad } from '../support/chat-load';
import { startPm2Cluster, type Pm2Cluster } from '../support/pm2-cluster';
import { waitUntil } from '../support/servers';

const OUTAGE_MS = 30_000;

/**
 * The embedded nats-server stopped for 30 s under traffic (`pm2 stop`: connections refused),
 * then started again. Clients of both dialects on both workers keep their sockets; nothing that
 * reached history may be lost to anyone, nothing shown twice.
 */
describe('NATS down for 30 s under traffic (PM2 + nginx)', () => {
  let cluster: Pm2Cluster;
  let load: ChatLoad | undefined;

  beforeAll(async () => {
    cluster = await startPm2Cluster({ workers: 2 });
  }, 90_000);

  afterAll(async () => {
    load?.close();
    await cluster?.stop();
  }, 60_000);

  it('delivers every stored message to every user once NATS is back, with no duplicates', async () => {
    load = await startOutageLoad(cluster, 'natsdown', 'n');

    let storedDuring = 0;
    const { downAt, backAt, dropped, arrivals } = await stopFor(cluster, load, 'nats', OUTAGE_MS, () => (storedDuring = load!.stored().size));
    console.log(`down at ${downAt.toFixed(0)} ms, back at ${backAt.toFixed(0)} ms (the clock of the records)`);
    for (const p of cluster.workerPorts) await waitUntil(() => ready(p), 30_000, `worker ${p} ready again`);
    const readyMs = performance.now() - backAt;
    await waitUntil(() => load!.firstDeliveryAfter(backAt) !== undefined, 30_000, 'a message delivered end to end after the outage');
    const firstMs = load.firstDeliveryAfter(backAt)!.t - backAt;
    await waitUntil(() => dropped.state === 'open', 30_000, 'the dropped client back in');
    const droppedBackMs = performance.now() - backAt;
    await waitUntil(() => load!.sent.filter((s) => s.t > backAt && s.id !== null).length >= 20, 30_000, 'traffic after the outage');
    await load.stop();

    await load.complete(30_000);
    const completeMs = performance.now() - backAt;
    expect(load.duplicates()).toBe(0);
    expect(load.v1.every((c) => c.state === 'open')).toBe(true);
    // Nobody was disconnected but the dropped user, whose retries were refused until NATS was back.
    expect(load.closes.filter((c) => c.user !== dropped.username)).toEqual([]);
    expect(arrivals.length).toBeGreaterThan(0);
    expect(arrivals.filter((a) => !/^HTTP 50[23]/.test(a))).toEqual([]);
    const during = load.sent.filter((s) => s.t > downAt && s.t < backAt);
    const outcomes = during.reduce<Record<string, number>>((o, s) => ((o[s.outcome] = (o[s.outcome] ?? 0) + 1), o), {});
    console.log(
      `nats outage: ${load.stored().size} stored (${load.stored().size - storedDuring} after it), 0 lost, 0 duplicated shown, ` +
        `${load.resent()} re-sent ids dropped by clients; sends during: ${JSON.stringify(outcomes)}; arrivals: ${JSON.stringify(tally(arrivals, (a) => a.split(':')[0]))}; ` +
        `errors: ${load.errors.length} ${JSON.stringify([...new Set(load.errors.map((e) => e.what))])}; closes: ${JSON.stringify(tally(load.closes, (c) => `${c.user}:${c.what}`))}; ` +
        `workers ready ${readyMs.toFixed(0)} ms after NATS started, first delivery ${firstMs.toFixed(0)} ms, dropped client back ${droppedBackMs.toFixed(0)} ms, ` +
        `all caught up ${completeMs.toFixed(0)} ms`,
    );
  }, 150_000);
});
