import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOutageLoad, stopFor, tally, workerReady as ready, type ChatLoad } from '../support/chat-load';
import { startPm2Cluster, type Pm2Cluster } from '../support/pm2-cluster';
import { waitUntil } from '../support/servers';

const OUTAGE_MS = 30_000;

/**
 * The embedded redis-server stopped for 30 s under traffic (`pm2 stop`: connections refused),
 * longer than the presence TTL, then started again. Chat goes on live meanwhile (messages carry
 * no id: history is away); a client whose network drops during the outage is refused until
 * Redis is back, then resumes with every stored message; presence comes back without telling
 * anyone that users who never left have left.
 */
describe('Redis down for 30 s under traffic (PM2 + nginx)', () => {
  let cluster: Pm2Cluster;
  let load: ChatLoad | undefined;

  beforeAll(async () => {
    cluster = await startPm2Cluster({ workers: 2, env: { PRESENCE_HEARTBEAT_MS: '1000', PRESENCE_TTL_MS: '3000' } });
  }, 90_000);

  afterAll(async () => {
    load?.close();
    await cluster?.stop();
  }, 60_000);

  it('keeps chat live, refuses new connects, then restores presence and history with nothing stored lost', async () => {
    load = await startOutageLoad(cluster, 'redisdown', 'r');
    const everyone = [...load.v1.map((c) => c.username), ...load.legacy.map((c) => c.username)];

    const { downAt, backAt, dropped, arrivals } = await stopFor(cluster, load, 'redis', OUTAGE_MS, (gone) => expect(gone.state).not.toBe('open'));
    console.log(`down at ${downAt.toFixed(0)} ms, back at ${backAt.toFixed(0)} ms (the clock of the records)`);
    for (const p of cluster.workerPorts) await waitUntil(() => ready(p), 30_000, `worker ${p} ready again`);
    const readyMs = performance.now() - backAt;
    await waitUntil(() => load!.firstDeliveryAfter(backAt, true) !== undefined, 30_000, 'a stored message delivered end to end');
    const firstMs = load.firstDeliveryAfter(backAt, true)!.t - backAt;
    await waitUntil(() => dropped.state === 'open', 30_000, 'the dropped client back in');
    const droppedBackMs = performance.now() - backAt;
    let listed: string[] = [];
    await waitUntil(
      async () => {
        await new Promise((r) => setTimeout(r, 200));
        listed = await load!.v1[0].users(load!.room);
        return everyone.every((u) => listed.includes(u));
      },
      20_000,
      'presence back for every user',
    ).catch((err) => {
      throw new Error(`${(err as Error).message}; listed ${JSON.stringify(listed)}`);
    });
    const presenceMs = performance.now() - backAt;
    expect(listed.filter((u) => everyone.includes(u)).sort()).toEqual([...everyone].sort()); // each name once
    await waitUntil(() => load!.sent.filter((s) => s.t > backAt && s.id !== null).length >= 20, 30_000, 'traffic after the outage');
    await load.stop();

    await load.complete(30_000);
    const completeMs = performance.now() - backAt;
    expect(load.duplicates()).toBe(0);
    expect(load.v1.every((c) => c.state === 'open')).toBe(true);
    expect(arrivals.length).toBeGreaterThan(0);
    expect(arrivals.filter((a) => !/^HTTP 50[23]/.test(a))).toEqual([]);

    // Live during the outage: messages without an id, shown to every user still connected.
    const during = load.sent.filter((s) => s.t > downAt + 1000 && s.t < backAt - 1000 && s.user !== dropped.username);
    const unstored = during.filter((s) => s.outcome === 'unstored' || s.outcome === 'unacked');
    expect(unstored.length).toBeGreaterThan(20);
    const receivers = (text: string) => new Set(load!.deliveries.filter((d) => d.text === text && d.id === null).map((d) => d.to));
    const notLive = unstored.filter((s) => receivers(s.text).size < everyone.length - 2); // all but the sender and the dropped user
    expect(notLive.map((s) => s.text)).toEqual([]);

    // Nobody was told that a user who never left had left. (The dropped user did leave.)
    const spurious = load.leaves.filter((l) => l.t > downAt && !l.what.startsWith(`${dropped.username}/`));
    const outcomes = load.sent
      .filter((s) => s.t > downAt && s.t < backAt)
      .reduce<Record<string, number>>((o, s) => ((o[s.outcome] = (o[s.outcome] ?? 0) + 1), o), {});
    console.log(
      `redis outage: ${load.stored().size} stored, 0 lost, 0 duplicated shown, ${load.resent()} re-sent ids dropped by clients; ` +
        `sends during: ${JSON.stringify(outcomes)}, ${unstored.length} checked live at every user; arrivals: ${JSON.stringify(tally(arrivals, (a) => a.split(':')[0]))}; ` +
        `errors: ${load.errors.length} ${JSON.stringify([...new Set(load.errors.map((e) => e.what))])}; closes: ${JSON.stringify(tally(load.closes, (c) => `${c.user}:${c.what}`))}; ` +
        `spurious leaves: ${spurious.length} ${JSON.stringify([...new Set(spurious.map((l) => l.what))])}; ` +
        `workers ready ${readyMs.toFixed(0)} ms after Redis started, first stored delivery ${firstMs.toFixed(0)} ms, dropped client back ${droppedBackMs.toFixed(0)} ms, ` +
        `presence complete ${presenceMs.toFixed(0)} ms, all caught up ${completeMs.toFixed(0)} ms`,
    );
    expect(spurious.map((l) => `${l.user} saw ${l.what}`)).toEqual([]);
  }, 150_000);
});
