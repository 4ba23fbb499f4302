/**
 * `npm run bench:profile`: where a worker's time goes. Starts nats-server, redis-server and
 * `--workers` chatfabric workers under `node --cpu-prof`, fills one room with `--clients`
 * clients of the benchmark's generator, sends `--rate` messages a second for `--seconds`, then
 * stops the workers (they write their profiles on exit) and prints the functions with the most
 * self time, grouped as chatfabric / ws / nats / ioredis / node internals / native.
 * The .cpuprofile files (open them in Chrome DevTools or speedscope) go to --out.
 *
 *   npm run bench:profile -- --clients 1000 --rate 40 --seconds 10
 *   npm run bench:profile -- --clients 5000 --room-size 10 --rate 1 --seconds 1   (connects, as scenario D)
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { startNats, startRedis, freePort, waitUntil } from '../../test/support/servers';
import { MAIN, ROOT } from '../../test/support/worker';
import { GeneratorPool } from './pool';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/** Self time per function and per area of the code, from a V8 .cpuprofile. */
function summarise(file: string): { total: number; areas: Map<string, number>; top: [string, number][] } {
  const p = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const areas = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const n = byId.get(id)!;
    const dt = p.timeDeltas[i] ?? 0;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === '(idle)') return;
    total += dt;
    const area = /node_modules\/ws\//.test(url) ? 'ws' : /node_modules\/nats/.test(url) ? 'nats' : /node_modules\/ioredis|redis-parser/.test(url) ? 'ioredis' : /node_modules\/pino|prom-client/.test(url) ? 'pino / prom-client' : /dist\/src\//.test(url) ? 'chatfabric' : url.startsWith('node:') ? 'node internals' : 'native, GC, program';
    areas.set(area, (areas.get(area) ?? 0) + dt);
    const key = `${functionName || '(anonymous)'} ${url.replace(/^.*\/(node_modules\/)?/, '')}:${lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  });
  return { total, areas, top: [...self].sort((a, b) => b[1] - a[1]).slice(0, 25) };
}

async function main(): Promise<void> {
  const workers = arg('workers', 2);
  const clients = arg('clients', 1000);
  const rate = arg('rate', 40);
  const seconds = arg('seconds', 10);
  // Rooms of this many members (scenario D uses 10); everyone in one room by default.
  const roomSize = arg('room-size', 0);
  const outI = process.argv.indexOf('--out');
  const out = path.resolve(outI > 0 ? process.argv[outI + 1] : path.join(ROOT, 'loadtest', 'results', 'profiles'));
  mkdirSync(out, { recursive: true });
  const before = new Set(readdirSync(out));
  const [nats, redis] = await Promise.all([startNats(), startRedis()]);
  const procs: ReturnType<typeof spawn>[] = [];
  const pool = new GeneratorPool(1);
  try {
    const ports: number[] = [];
    for (let i = 0; i < workers; i++) {
      const port = await freePort();
      ports.push(port);
      procs.push(
        spawn(process.execPath, ['--cpu-prof', '--cpu-prof-dir', out, MAIN], {
          cwd: ROOT,
          stdio: 'ignore',
          env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), WORKER_ID: `prof${i}`, NATS_URL: nats.url, REDIS_URL: redis.url, NODE_ENV: 'production' },
        }),
      );
    }
    for (const port of ports) await waitUntil(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, 20_000, `worker on ${port}`);
    const c = await pool.connect({
      group: 'p',
      dialect: 'chatfabric',
      readyPrefix: '{"type":"history"',
      endpoints: ports.map((port) => ({ host: '127.0.0.1', port, path: '/ws' })),
      clients: Array.from({ length: clients }, (_, i) => ({ username: `prof${i}`, room: roomSize > 0 ? `profiled${Math.floor(i / roomSize)}` : 'profiled' })),
      concurrency: 200,
      timeoutMs: 120_000,
    });
    console.log(`${c.ready} clients in ${roomSize > 0 ? `rooms of ${roomSize}` : 'one room'} on ${workers} workers; sending ${rate} msg/s for ${seconds} s`);
    await new Promise((r) => setTimeout(r, 2000));
    const sent = await pool.send('p', rate, seconds * 1000, 1);
    await waitUntil(async () => (await pool.received(1)) >= sent.sent * ((roomSize > 0 ? Math.min(roomSize, c.ready) : c.ready) - 1), 30_000, 'every delivery');
    console.log(`${sent.sent} messages, ${await pool.received(1)} deliveries`);
  } finally {
    await pool.stop();
    await Promise.all(procs.map((p) => new Promise((resolve) => (p.once('exit', resolve), p.kill('SIGTERM')))));
    await Promise.all([nats.stop(), redis.stop()]);
  }
  for (const f of readdirSync(out).filter((f) => f.endsWith('.cpuprofile') && !before.has(f))) {
    const s = summarise(path.join(out, f));
    console.log(`\n${f}: ${(s.total / 1000).toFixed(0)} ms on CPU (not idle)`);
    for (const [area, t] of [...s.areas].sort((a, b) => b[1] - a[1])) console.log(`  ${area.padEnd(22)} ${((100 * t) / s.total).toFixed(1).padStart(5)} %`);
    console.log('  top self time:');
    for (const [k, t] of s.top) console.log(`  ${((100 * t) / s.total).toFixed(1).padStart(5)} %  ${k}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
