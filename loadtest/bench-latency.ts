/**
 * Delivery-latency benchmark: starts a real nats-server, redis-server and N workers on loopback,
 * connects clients spread over the workers into one room, sends chat messages at a fixed rate
 * from random clients, and prints latency percentiles of every delivery (sender's send to a
 * receiver's arrival), split into same-worker and cross-worker deliveries, plus throughput.
 * Bounded: it stops by itself after --seconds and stops every process it started by PID.
 *
 *   npm run bench -- --workers 2 --clients 100 --rate 200 --seconds 10
 */
import { performance } from 'node:perf_hooks';
import { connect, type TestClient } from '../test/support/client';
import { startNats, startRedis } from '../test/support/servers';
import { startWorker, type WorkerHandle } from '../test/support/worker';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function summary(label: string, xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const f = (v: number) => v.toFixed(2).padStart(7);
  return `${label.padEnd(14)} n=${String(s.length).padStart(7)}  p50 ${f(pct(s, 50))} ms  p95 ${f(pct(s, 95))} ms  p99 ${f(pct(s, 99))} ms  max ${f(s[s.length - 1] ?? NaN)} ms`;
}

async function main(): Promise<void> {
  const workers = arg('workers', 2);
  const clientsPer = arg('clients', 50);
  const rate = arg('rate', 100);
  const seconds = arg('seconds', 10);
  console.log(`chatfabric latency bench: ${workers} workers x ${clientsPer} clients in one room, ${rate} msg/s for ${seconds} s`);

  const [nats, redis] = await Promise.all([startNats(), startRedis()]);
  const ws: WorkerHandle[] = [];
  const clients: { c: TestClient; worker: number }[] = [];
  try {
    for (let i = 0; i < workers; i++) {
      ws.push(
        await startWorker({
          natsUrl: nats.url,
          redisUrl: redis.url,
          prefix: 'bench',
          id: `bench-${i}`,
          env: { LOG_LEVEL: 'warn', RATE_LIMIT_PER_SEC: '1000', RATE_LIMIT_BURST: '1000', PRESENCE_HEARTBEAT_MS: '5000', PRESENCE_TTL_MS: '15000' },
        }),
      );
    }
    const sent = new Map<string, { at: number; worker: number }>();
    const same: number[] = [];
    const cross: number[] = [];
    let seq = 0;
    for (let i = 0; i < workers * clientsPer; i++) {
      const worker = i % workers;
      const c = await connect(ws[worker].wsUrl, `u${i}`, { v1: true, room: 'bench' });
      c.ws.on('message', (data) => {
        const now = performance.now();
        const text = data.toString();
        if (!text.startsWith('{"type":"message"')) return;
        const m = JSON.parse(text) as { text: string };
        const origin = sent.get(m.text);
        if (!origin) return;
        (origin.worker === worker ? same : cross).push(now - origin.at);
      });
      clients.push({ c, worker });
    }
    await Promise.all(clients.map(({ c }) => c.waitFor((f) => f.type === 'history')));
    console.log(`connected ${clients.length} clients; sending`);

    const t0 = performance.now();
    const total = rate * seconds;
    await new Promise<void>((resolve) => {
      const tick = setInterval(() => {
        const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
        while (seq < due) {
          const s = clients[Math.floor(Math.random() * clients.length)];
          const text = `m${seq++}`;
          sent.set(text, { at: performance.now(), worker: s.worker });
          s.c.send({ type: 'message', text });
        }
        if (seq >= total) {
          clearInterval(tick);
          resolve();
        }
      }, 5);
    });
    const expected = total * (clients.length - 1);
    const end = performance.now() + 10_000;
    while (same.length + cross.length < expected && performance.now() < end) await new Promise((r) => setTimeout(r, 50));
    const elapsed = (performance.now() - t0) / 1000;
    const got = same.length + cross.length;
    console.log(`sent ${total} messages; ${got} of ${expected} deliveries arrived (${((100 * got) / expected).toFixed(2)}%) in ${elapsed.toFixed(1)} s`);
    console.log(`throughput     ${(got / elapsed).toFixed(0)} deliveries/s`);
    console.log(summary('same worker', same));
    console.log(summary('cross worker', cross));
    console.log(summary('all', [...same, ...cross]));
  } finally {
    await Promise.all(clients.map(({ c }) => c.close().catch(() => undefined)));
    await Promise.all(ws.map((w) => w.stop()));
    await Promise.all([nats.stop(), redis.stop()]);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
