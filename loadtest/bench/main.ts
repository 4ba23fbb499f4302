/**
 * `npm run bench`: chatfabric side by side with Socket.IO + Redis adapter, raw ws + NATS and raw
 * ws, each started fresh by this harness on loopback, driven by forked load generators that
 * never parse what they only count. Prints the side-by-side tables and writes
 * `loadtest/results/<date>.{json,md,svg}`. A benchmark, not a test: it asserts nothing.
 *
 *   npm run bench -- --quick              # under 3 minutes
 *   npm run bench                          # the full run (states its duration)
 *   npm run bench -- --systems chatfabric,ws --scenarios A,B --repeat 5
 *
 * Scenarios (see docs/performance.md for the method):
 *   A fan-out ladder: 1,000 clients in one room, rising send rate, until p99 >= 50 ms or a loss
 *   B 100 rooms of 10, 1,000 msg/s: latency percentiles
 *   C idle memory: server RSS per connection at 10,000 and 30,000 idle connections
 *   D connect rate: 5,000 connections, 200 at a time: time and server CPU per connection
 *   E join storm: N clients joining one room until all are in and the room is quiet
 *   F reconnect storm: `pm2 reload` with 1,000 members in one room (chatfabric only)
 *   G one machine, 100,000 connections: 7 workers, everyone in global, heartbeats running, one
 *     message to global reaching all (chatfabric only; run it alone: --scenarios G)
 * Systems are interleaved step by step (every system at one rate before the next rate) and every
 * step is repeated; the tables show medians.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nowUs } from './dialect';
import { Histogram } from './histogram';
import { measured, serverRss, type Window } from './measure';
import { GeneratorPool } from './pool';
import { renderMarkdown, renderSvg, type Results } from './report';
import { SYSTEMS, startSystem, type RunningSystem, type SystemName } from './systems';

interface Plan {
  quick: boolean;
  systems: SystemName[];
  scenarios: Set<string>;
  repeat: number;
  out: string;
  /** Generator processes for C, D and E's larger rooms (connection counts need several). */
  generators: number;
  /**
   * Generator processes for A, B and F. One: on 2 cores every extra process that wakes for the
   * same fan-out burst competes with the server and inflates the latency it measures (p50 of a
   * 1,000-member fan-out: 19 ms with one generator, 59 ms with two, 74 ms with four). A step
   * whose generator nears a full core is reported as generator-bound.
   */
  latencyGenerators: number;
  /** A: members of the one room, and the ladder of messages/s. */
  fanoutClients: number;
  ladder: number[];
  stepMs: number;
  drainMs: number;
  /** B: rooms x members, and the total rate. */
  rooms: number;
  roomSize: number;
  roomsRate: number;
  /** C and D: the connect count of D, then the idle counts of C (D's connections are the first of C's). */
  connects: number;
  idle: number[];
  /** E: room sizes. */
  joins: number[];
  joinDeadlineMs: number;
  /** A step passes only under this p99 (ms) with nothing lost. */
  p99LimitMs: number;
  /** G: connections and workers. */
  bigConnections: number;
  bigWorkers: number;
}

function parsePlan(argv: string[]): Plan {
  const flag = (name: string) => argv.includes(`--${name}`);
  const value = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const list = (name: string) => value(name)?.split(',').map((s) => s.trim()).filter(Boolean);
  const nums = (name: string) => list(name)?.map(Number);
  const quick = flag('quick');
  const tiny = flag('tiny'); // the smoke test's size: seconds, not minutes
  const systems = (list('systems') ?? SYSTEMS) as SystemName[];
  for (const s of systems) if (!SYSTEMS.includes(s)) throw new Error(`unknown system "${s}"; known: ${SYSTEMS.join(', ')}`);
  const scenarios = new Set((list('scenarios') ?? ['A', 'B', 'C', 'D', 'E', 'F']).map((s) => s.toUpperCase()));
  for (const s of scenarios) if (!'ABCDEFG'.includes(s) || s.length !== 1) throw new Error(`unknown scenario "${s}"; known: A-G`);
  const plan: Plan = {
    quick,
    systems,
    scenarios,
    repeat: Number(value('repeat') ?? (quick || tiny ? 1 : 3)),
    out: path.resolve(value('out') ?? path.join(__dirname, '..', '..', '..', 'loadtest', 'results')),
    generators: 2,
    latencyGenerators: Number(value('latency-generators') ?? 1),
    fanoutClients: 0, // set below: the first join size
    ladder: nums('ladder') ?? (tiny ? [20] : quick ? [10, 30] : [5, 10, 20, 30, 40, 60, 80, 100, 130, 160]),
    stepMs: Number(value('step-ms') ?? (tiny ? 1000 : quick ? 2000 : 5000)),
    drainMs: 5000,
    rooms: tiny ? 4 : 100,
    roomSize: 10,
    roomsRate: Number(value('rooms-rate') ?? (tiny ? 40 : 1000)),
    // Quick runs connect 2,000 (the full run's 5,000 would not fit the 3 minutes); C then measures the same 2,000.
    connects: Number(value('connects') ?? (tiny ? 100 : quick ? 2000 : 5000)),
    idle: nums('idle') ?? (tiny ? [200] : quick ? [2000] : [10000, 30000]),
    // The first size is the fan-out room of A, filled in phase 1; larger ones get fresh systems.
    joins: nums('joins') ?? (tiny ? [40] : quick ? [1000] : [1000, 3000, 10000]),
    joinDeadlineMs: tiny ? 20_000 : 120_000,
    p99LimitMs: 50,
    bigConnections: Number(value('connections') ?? (tiny ? 2000 : 100_000)),
    bigWorkers: Number(value('workers') ?? (tiny ? 2 : 7)),
  };
  plan.fanoutClients = plan.joins[0];
  // 15,000 connections per generator keeps each well under the 20,000 open files a process may hold.
  plan.generators = Number(value('generators') ?? Math.max(2, Math.ceil(Math.max(...plan.idle, ...plan.joins) / 15000)));
  return plan;
}

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

/** Waits until `cond` holds, polling; false on timeout. */
async function until(cond: () => Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return cond();
}

/** Waits until no client of the pool has received a frame for `quietMs`; returns nowUs() of the last frame. */
async function quiet(pool: GeneratorPool, quietMs: number, timeoutMs: number): Promise<{ lastFrameUs: number; frames: number; quiet: boolean }> {
  const end = performance.now() + timeoutMs;
  let last = await pool.activity();
  let since = performance.now();
  while (performance.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    const now = await pool.activity();
    if (now.frames !== last.frames) {
      last = now;
      since = performance.now();
    } else if (performance.now() - since >= quietMs) return { lastFrameUs: now.lastFrameUs, frames: now.frames, quiet: true };
  }
  return { lastFrameUs: last.lastFrameUs, frames: last.frames, quiet: false };
}

/** A step whose p99 is above this is not just slow: the system cannot keep up. */
const SATURATED_P99_MS = 1000;

const users = (prefix: string, n: number, room: (i: number) => string) => Array.from({ length: n }, (_, i) => ({ username: `${prefix}${i}`, room: room(i) }));

let stepSeq = 0;

/** One send step: `rate` msg/s into `group` for stepMs, then wait for every delivery (or the drain limit). */
async function sendStep(plan: Plan, pool: GeneratorPool, sys: RunningSystem, group: string, readyByRoom: Map<string, number>, rate: number) {
  const step = ++stepSeq;
  const { result, window } = await measured(sys, pool.pids(), async () => {
    const sent = await pool.send(group, rate, plan.stepMs, step);
    let expected = 0;
    for (const [room, k] of sent.sentByRoom) expected += k * Math.max(0, (readyByRoom.get(room) ?? 0) - 1);
    await until(async () => (await pool.received(step)) >= expected, plan.drainMs, 20);
    return { sent, expected, stats: await pool.stats(step) };
  });
  const { sent, expected, stats } = result;
  const h = stats.hist;
  const lost = Math.max(0, expected - stats.received);
  const p99 = h.percentile(99) / 1000;
  const achieved = sent.sent / (plan.stepMs / 1000);
  // Two verdicts: whether the step meets the latency bar (p99 under the limit, nothing lost),
  // and whether the system is saturated (it cannot keep up at all), which ends its ladder.
  const misses: string[] = [];
  if (lost > 0) misses.push(`${lost} lost`);
  if (!(p99 < plan.p99LimitMs)) misses.push(`p99 ${p99.toFixed(0)} ms`);
  const saturation: string[] = [];
  if (lost > 0) saturation.push(`${lost} lost`);
  if (p99 > SATURATED_P99_MS) saturation.push(`p99 ${(p99 / 1000).toFixed(1)} s`);
  if (achieved < rate * 0.95) saturation.push(`sent only ${achieved.toFixed(0)}/s`);
  const genCores = window.genCpuS / window.wallS;
  if (genCores > 0.9 * pool.size) saturation.push(`load generator at ${genCores.toFixed(2)} cores`);
  return {
    system: sys.name,
    rate,
    sent: sent.sent,
    expected,
    received: stats.received,
    lost,
    deliveriesPerSec: stats.received / (plan.stepMs / 1000),
    p50Ms: h.percentile(50) / 1000,
    p99Ms: p99,
    p999Ms: h.percentile(99.9) / 1000,
    maxMs: h.max / 1000,
    usPerDelivery: stats.received ? (window.serverCpuS * 1e6) / stats.received : NaN,
    passed: misses.length === 0,
    reason: misses.join(', '),
    saturated: saturation.length > 0,
    saturation: saturation.join(', '),
    window,
  };
}

export type StepResult = Awaited<ReturnType<typeof sendStep>>;

function fmtWindow(w: Window): string {
  return `server ${w.serverCpuS.toFixed(2)} s CPU, generators ${w.genCpuS.toFixed(2)} s, other ${w.otherCpuS.toFixed(2)} s over ${w.wallS.toFixed(1)} s`;
}

async function main(): Promise<void> {
  const plan = parsePlan(process.argv.slice(2));
  const started = Date.now();
  const results: Results = {
    meta: {
      date: new Date().toISOString(),
      quick: plan.quick,
      machine: {
        cpus: os.cpus().length,
        model: os.cpus()[0]?.model ?? 'unknown',
        memGiB: Math.round(os.totalmem() / 2 ** 30),
        node: process.version,
        kernel: os.release(),
        loadavg: os.loadavg(),
      },
      plan: { ...plan, scenarios: [...plan.scenarios] },
      labels: {},
      durationS: 0,
    },
    A: [],
    B: [],
    C: [],
    D: [],
    E: [],
    F: [],
    G: [],
  };
  log(`chatfabric benchmark${plan.quick ? ' (quick)' : ''}: systems ${plan.systems.join(', ')}; scenarios ${[...plan.scenarios].join('')}; ${plan.repeat} repetition(s); ${plan.latencyGenerators} generator process(es) for A, B, F and ${plan.generators} for C, D, E`);
  const pools: GeneratorPool[] = [];
  const newPool = (n: number) => {
    const p = new GeneratorPool(n);
    pools.push(p);
    return p;
  };
  const stopPools = () => Promise.all(pools.map((p) => p.stop()));
  const running = new Map<SystemName, RunningSystem>();
  const stopAll = async () => {
    await Promise.all([...running.values()].map((s) => s.stop().catch(() => undefined)));
    running.clear();
  };
  const onSignal = () => {
    log('interrupted: stopping everything');
    void Promise.all([stopAll(), stopPools()]).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // Phase 1: A, B, E (the first size) and F share one running instance of every system.
    if (['A', 'B', 'E', 'F'].some((s) => plan.scenarios.has(s))) {
      for (const name of plan.systems) {
        const sys = await startSystem(name);
        running.set(name, sys);
        results.meta.labels[name] = sys.label;
        log(`started ${name}: ${sys.label}`);
      }
      const shared = newPool(plan.latencyGenerators);
      await phaseShared(plan, shared, running, results);
      await stopAll();
      await shared.stop();
    }
    const pool = newPool(plan.scenarios.has('C') || plan.scenarios.has('D') || plan.scenarios.has('E') ? plan.generators : 0);
    // Phase 2: D then C (and E's larger rooms), each on a freshly started system, one at a time.
    if (plan.scenarios.has('C') || plan.scenarios.has('D')) await phaseConnect(plan, pool, results);
    if (plan.scenarios.has('E') && plan.joins.length > 1) await phaseJoins(plan, pool, results);
    if (plan.scenarios.has('G')) await phaseOneMachine(plan, results, newPool, running);
  } finally {
    await stopAll();
    await stopPools();
  }
  results.meta.durationS = (Date.now() - started) / 1000;
  const md = renderMarkdown(results);
  process.stdout.write(`\n${md}\n`);
  mkdirSync(plan.out, { recursive: true });
  const stamp = results.meta.date.replace(/:/g, '-').replace(/\..*/, '');
  const base = path.join(plan.out, `${stamp}${plan.quick ? '-quick' : ''}`);
  writeFileSync(`${base}.json`, JSON.stringify(results, null, 1));
  writeFileSync(`${base}.md`, md);
  writeFileSync(`${base}.svg`, renderSvg(results));
  log(`wrote ${base}.{json,md,svg}; the run took ${(results.meta.durationS / 60).toFixed(1)} min`);
}

async function phaseShared(plan: Plan, pool: GeneratorPool, running: Map<SystemName, RunningSystem>, results: Results): Promise<void> {
  const fanout = new Map<SystemName, Map<string, number>>();
  const rooms = new Map<SystemName, Map<string, number>>();
  const needFanout = plan.scenarios.has('A') || plan.scenarios.has('E') || plan.scenarios.has('F');
  for (const [name, sys] of running) {
    if (needFanout) {
      // The fan-out room's filling is scenario E's first size: measure it as such.
      const n = plan.fanoutClients;
      const e = await joinStorm(plan, pool, sys, `A-${name}`, n, true);
      results.E.push(e);
      log(`E ${name} ${n} join one room: ${e.ready}/${n} in after ${e.allInS.toFixed(2)} s, quiet after ${e.quietS.toFixed(2)} s, ${e.framesPerJoin.toFixed(0)} frames per join; ${fmtWindow(e.window)}`);
      fanout.set(name, e.readyByRoom);
    }
    if (plan.scenarios.has('B')) {
      const c = await pool.connect({
        group: `B-${name}`,
        dialect: sys.dialect,
        readyPrefix: sys.readyPrefix,
        endpoints: sys.endpoints,
        clients: users('b', plan.rooms * plan.roomSize, (i) => `room${i % plan.rooms}`),
        concurrency: 200,
        timeoutMs: 30_000,
      });
      rooms.set(name, c.readyByRoom);
      log(`B ${name}: ${c.ready} clients in ${plan.rooms} rooms after ${(c.elapsedMs / 1000).toFixed(1)} s${Object.keys(c.failed).length ? `; failed ${JSON.stringify(c.failed)}` : ''}`);
    }
  }
  await quiet(pool, 500, 30_000);

  for (let rep = 0; rep < plan.repeat; rep++) {
    if (plan.scenarios.has('A')) {
      const saturated = new Set<SystemName>();
      for (const rate of plan.ladder) {
        for (const [name, sys] of running) {
          if (saturated.has(name)) continue;
          const r = await sendStep(plan, pool, sys, `A-${name}`, fanout.get(name)!, rate);
          results.A.push({ ...r, rep });
          log(`A ${name} ${rate} msg/s: ${r.deliveriesPerSec.toFixed(0)} deliveries/s, p50 ${r.p50Ms.toFixed(2)} p99 ${r.p99Ms.toFixed(2)} ms, lost ${r.lost}, ${r.usPerDelivery.toFixed(1)} µs server CPU/delivery, generator ${(r.window.genCpuS / r.window.wallS).toFixed(2)} cores${r.passed ? '' : `; misses the bar (${r.reason})`}${r.saturated ? `; SATURATED (${r.saturation}): ladder stops` : ''}`);
          if (r.saturated) saturated.add(name);
          await quiet(pool, 200, 10_000);
        }
      }
    }
    if (plan.scenarios.has('B')) {
      for (const [name, sys] of running) {
        const r = await sendStep(plan, pool, sys, `B-${name}`, rooms.get(name)!, plan.roomsRate);
        results.B.push({ ...r, rep });
        log(`B ${name} ${plan.roomsRate} msg/s: p50 ${r.p50Ms.toFixed(2)} p99 ${r.p99Ms.toFixed(2)} p99.9 ${r.p999Ms.toFixed(2)} ms, lost ${r.lost}, ${r.usPerDelivery.toFixed(1)} µs server CPU/delivery; ${fmtWindow(r.window)}`);
        await quiet(pool, 200, 10_000);
      }
    }
  }

  if (plan.scenarios.has('F')) {
    for (const [name, sys] of running) {
      // Quick runs reload only the cluster users reach through nginx, to stay within 3 minutes.
      if (!sys.reload || (plan.quick && name !== 'chatfabric-nginx' && running.has('chatfabric-nginx'))) continue;
      for (let rep = 0; rep < plan.repeat; rep++) {
        const f = await reloadStorm(pool, sys, `A-${name}`, plan.fanoutClients);
        results.F.push({ ...f, rep });
        log(`F ${name}: pm2 reload with ${f.members} in one room: ${f.resumed} resumed, all back ${f.allBackS.toFixed(2)} s after the reload began; drop-to-return p50 ${f.p50Ms.toFixed(0)} ms, p99 ${f.p99Ms.toFixed(0)} ms; ${fmtWindow(f.window)}`);
      }
    }
  }
}

/** Scenario E: `n` clients join one room, 200 at a time, until all are in and nothing arrives for 1 s. */
async function joinStorm(plan: Plan, pool: GeneratorPool, sys: RunningSystem, group: string, n: number, reconnect = false) {
  const before = await pool.activity();
  const t0 = nowUs();
  const { result, window } = await measured(sys, pool.pids(), async () => {
    const c = await pool.connect({
      group,
      dialect: sys.dialect,
      readyPrefix: sys.readyPrefix,
      endpoints: sys.endpoints,
      clients: users(`${group.replace(/[^A-Za-z0-9]/g, '').slice(0, 12)}u`, n, () => 'fanout'),
      concurrency: 200,
      timeoutMs: plan.joinDeadlineMs,
      reconnect,
    });
    const allInUs = nowUs();
    const q = await quiet(pool, 1000, Math.max(5000, plan.joinDeadlineMs - (allInUs - t0) / 1000));
    return { c, allInUs, q };
  });
  const { c, allInUs, q } = result;
  return {
    system: sys.name,
    n,
    ready: c.ready,
    failed: c.failed,
    readyByRoom: c.readyByRoom,
    allInS: (allInUs - t0) / 1e6,
    quietS: (Math.max(q.lastFrameUs, allInUs) - t0) / 1e6,
    finished: c.ready === n && q.quiet,
    frames: q.frames - before.frames,
    framesPerJoin: (q.frames - before.frames) / Math.max(1, c.ready),
    serverCpuMsPerJoin: (window.serverCpuS * 1000) / Math.max(1, c.ready),
    window,
  };
}

/** Scenario F: `pm2 reload` of the workers while `group` sits in one room; how fast is everyone back? */
async function reloadStorm(pool: GeneratorPool, sys: RunningSystem, group: string, members: number) {
  const start = await pool.activity(group);
  const before = start.resumedAtUs.length;
  const t0 = nowUs();
  const { result, window } = await measured(sys, pool.pids(), async () => {
    await sys.reload!();
    const reloadedUs = nowUs();
    // Everyone dropped by the reload must be back in the room, and nobody still away.
    await until(async () => {
      const a = await pool.activity(group);
      return a.ready >= members && a.resumedAtUs.length - before >= members;
    }, 60_000, 50);
    return { reloadedUs, a: await pool.activity(group) };
  });
  const back = result.a.resumedAtUs.slice(before).sort((x, y) => x - y);
  // The group's histogram holds every earlier reload too: keep only this one's returns.
  const hist = new Histogram(result.a.resumeHist.counts.map((c, i) => c - start.resumeHist.counts[i]));
  return {
    system: sys.name,
    members,
    resumed: back.length,
    ready: result.a.ready,
    allBackS: back.length ? (back[back.length - 1] - t0) / 1e6 : NaN,
    pm2ReloadS: (result.reloadedUs - t0) / 1e6,
    p50Ms: hist.percentile(50) / 1000,
    p99Ms: hist.percentile(99) / 1000,
    window,
  };
}

/** Scenarios D and C on a fresh system each: connect rate, then idle memory as the count grows. */
async function phaseConnect(plan: Plan, pool: GeneratorPool, results: Results): Promise<void> {
  for (let rep = 0; rep < plan.repeat; rep++) {
    for (const name of plan.systems) {
      const sys = await startSystem(name);
      results.meta.labels[name] = sys.label;
      const groups: string[] = [];
      try {
        await new Promise((r) => setTimeout(r, 1000));
        const base = await serverRss(sys);
        let connected = 0;
        let group = 0;
        const counts = plan.scenarios.has('C') ? [plan.connects, ...plan.idle.filter((n) => n > plan.connects)] : [plan.connects];
        for (const target of counts) {
          const add = target - connected;
          groups.push(`CD-${name}-${rep}-${group++}`);
          const { result: c, window } = await measured(sys, pool.pids(), () =>
            pool.connect({
              group: groups[groups.length - 1],
              dialect: sys.dialect,
              readyPrefix: sys.readyPrefix,
              endpoints: sys.endpoints,
              // Rooms of 10, as in B: a join is part of a connection, and no room grows quadratic.
              clients: users(`c${group}x`, add, (i) => `idle${Math.floor((connected + i) / 10)}`),
              concurrency: 200,
              timeoutMs: 30_000,
            }),
          );
          connected += c.ready;
          const failed = Object.keys(c.failed).length ? c.failed : undefined;
          if (target === plan.connects && plan.scenarios.has('D')) {
            const d = {
              system: name,
              rep,
              n: add,
              ready: c.ready,
              failed,
              seconds: c.elapsedMs / 1000,
              serverCpuMsPerConn: (window.serverCpuS * 1000) / Math.max(1, c.ready),
              connectP50Ms: c.connectHist.percentile(50) / 1000,
              connectP99Ms: c.connectHist.percentile(99) / 1000,
              window,
            };
            results.D.push(d);
            log(`D ${name}: ${c.ready}/${add} connected in ${d.seconds.toFixed(2)} s, ${d.serverCpuMsPerConn.toFixed(2)} ms server CPU each, connect p50 ${d.connectP50Ms.toFixed(1)} p99 ${d.connectP99Ms.toFixed(1)} ms${failed ? `; failed ${JSON.stringify(failed)}` : ''}`);
          }
          if (plan.scenarios.has('C') && plan.idle.includes(target)) {
            await quiet(pool, 1000, 20_000);
            await new Promise((r) => setTimeout(r, plan.quick ? 1000 : 3000)); // let heartbeats and allocators settle
            const rss = await serverRss(sys);
            const c1 = {
              system: name,
              rep,
              n: target,
              ready: connected,
              failed,
              rssTotal: rss.total,
              rssBaseline: base.total,
              perConnBytes: connected ? (rss.total - base.total) / connected : NaN,
              byRole: Object.fromEntries(Object.entries(rss.byRole).map(([role, b]) => [role, b - (base.byRole[role] ?? 0)])),
            };
            results.C.push(c1);
            log(`C ${name}: ${connected}/${target} idle connections, server RSS ${(rss.total / 2 ** 20).toFixed(0)} MiB (from ${(base.total / 2 ** 20).toFixed(0)}), ${(c1.perConnBytes / 1024).toFixed(1)} KB per connection${failed ? `; failed ${JSON.stringify(failed)}` : ''}`);
          }
          if (c.ready < add) {
            log(`${name} refused connections at ${connected}: not trying larger counts`);
            break;
          }
        }
      } finally {
        await sys.stop();
        for (const g of groups) await pool.close(g);
      }
    }
  }
}

/** Scenario E's larger rooms, each on a fresh system. */
async function phaseJoins(plan: Plan, pool: GeneratorPool, results: Results): Promise<void> {
  const gaveUp = new Set<SystemName>();
  for (const n of plan.joins.slice(1)) {
    for (let rep = 0; rep < plan.repeat; rep++) {
      for (const name of plan.systems) {
        if (gaveUp.has(name)) continue;
        const sys = await startSystem(name);
        try {
          const e = await joinStorm(plan, pool, sys, `E-${name}-${n}-${rep}`, n);
          results.E.push({ ...e, rep });
          log(`E ${name} ${n} join one room: ${e.ready}/${n} in after ${e.allInS.toFixed(2)} s, quiet after ${e.quietS.toFixed(2)} s${e.finished ? '' : ' — did not finish'}; ${e.serverCpuMsPerJoin.toFixed(2)} ms server CPU per join; ${fmtWindow(e.window)}`);
          if (!e.finished) gaveUp.add(name);
          await pool.close(`E-${name}-${n}-${rep}`);
        } finally {
          await sys.stop();
        }
      }
    }
  }
}

/**
 * Scenario G: as many connections as one machine holds, on `bigWorkers` workers (15,000 each at
 * most: a process may hold 20,000 open files), everyone in `global`. Then long enough for the
 * heartbeats to have renewed everyone's presence at least once while a probe measures how long
 * Redis ever makes a command wait, then one message from each generator to everyone.
 */
async function phaseOneMachine(plan: Plan, results: Results, newPool: (n: number) => GeneratorPool, running: Map<SystemName, RunningSystem>): Promise<void> {
  const n = plan.bigConnections;
  const sys = await startSystem('chatfabric', { workers: plan.bigWorkers });
  running.set('chatfabric', sys); // so that an interrupt stops it too
  results.meta.labels.chatfabric ??= sys.label;
  const pool = newPool(Math.max(2, Math.ceil(n / 14_500)));
  const { Redis } = await import('ioredis');
  const redis = new Redis(sys.redisUrl!, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const base = await serverRss(sys);
    log(`G: ${plan.bigWorkers} workers up; connecting ${n} clients into global with ${pool.size} generators`);
    const { result: c, window } = await measured(sys, pool.pids(), () =>
      pool.connect({
        group: 'G',
        dialect: sys.dialect,
        readyPrefix: sys.readyPrefix,
        endpoints: sys.endpoints,
        clients: users('g', n, () => 'global'),
        concurrency: 500,
        timeoutMs: 180_000,
      }),
    );
    log(`G: ${c.ready}/${n} in global after ${(c.elapsedMs / 1000).toFixed(1)} s, ${((window.serverCpuS * 1000) / Math.max(1, c.ready)).toFixed(2)} ms server CPU each${Object.keys(c.failed).length ? `; failed ${JSON.stringify(c.failed)}` : ''}`);
    const settled = await quiet(pool, 2000, 300_000);
    // Over a full presence TTL every user's entry must have been renewed by a heartbeat; the
    // probe sees the longest any command waited behind the heartbeat scripts meanwhile.
    const probeMs = 20_000;
    // Redis's own record of every command that ran longer than 1 ms (a heartbeat script, say):
    // unlike the probe below it does not include this process's scheduling.
    await redis.config('SET', 'slowlog-log-slower-than', '1000');
    await redis.slowlog('RESET');
    let worstMs = 0;
    let probes = 0;
    const probeEnd = performance.now() + probeMs;
    while (performance.now() < probeEnd) {
      const t = performance.now();
      await redis.ping();
      worstMs = Math.max(worstMs, performance.now() - t);
      probes++;
      await new Promise((r) => setTimeout(r, 5));
    }
    const slow = ((await redis.slowlog('GET', 128)) as [number, number, number, string[]][]).map(([, , us, cmd]) => ({ ms: us / 1000, cmd: cmd.slice(0, 2).join(' ') }));
    const slowest = slow.sort((x, y) => y.ms - x.ms)[0] ?? { ms: 0, cmd: 'none over 1 ms' };
    const online = await redis.zcount(`chatfabric:online`, `(${Date.now()}`, '+inf').catch(() => -1);
    const rss = await serverRss(sys);
    const step = ++stepSeq;
    const { result: sent, window: sendWindow } = await measured(sys, pool.pids(), async () => {
      const out = await pool.send('G', pool.size, 1000, step); // one message from each generator
      const expected = out.sent * Math.max(0, c.ready - 1);
      await until(async () => (await pool.received(step)) >= expected, 120_000, 100);
      return { out, expected, stats: await pool.stats(step) };
    });
    const g = {
      system: 'chatfabric',
      workers: plan.bigWorkers,
      n,
      ready: c.ready,
      failed: c.failed,
      connectS: c.elapsedMs / 1000,
      serverCpuMsPerConn: (window.serverCpuS * 1000) / Math.max(1, c.ready),
      settled: settled.quiet,
      online,
      redisWorstMs: worstMs,
      redisProbes: probes,
      redisSlowestMs: slowest.ms,
      redisSlowestCommand: slowest.cmd,
      redisSlowCount: slow.length,
      rssTotal: rss.total,
      perConnBytes: (rss.total - base.total) / Math.max(1, c.ready),
      messages: sent.out.sent,
      expected: sent.expected,
      received: sent.stats.received,
      p50Ms: sent.stats.hist.percentile(50) / 1000,
      p99Ms: sent.stats.hist.percentile(99) / 1000,
      maxMs: sent.stats.hist.max / 1000,
      usPerDelivery: (sendWindow.serverCpuS * 1e6) / Math.max(1, sent.stats.received),
      window,
    };
    results.G.push(g);
    log(`G: presence lists ${online} online after ${probeMs / 1000} s of heartbeats; the longest Redis command took ${slowest.ms.toFixed(1)} ms (${slowest.cmd}; ${slow.length} over 1 ms), a probe waited at most ${worstMs.toFixed(1)} ms; server RSS ${(rss.total / 2 ** 30).toFixed(2)} GiB, ${(g.perConnBytes / 1024).toFixed(1)} KB per connection`);
    log(`G: ${g.messages} messages to global: ${g.received}/${g.expected} deliveries, p50 ${g.p50Ms.toFixed(0)} ms, p99 ${g.p99Ms.toFixed(0)} ms, max ${g.maxMs.toFixed(0)} ms, ${g.usPerDelivery.toFixed(1)} µs server CPU each`);
  } finally {
    redis.disconnect();
    await sys.stop();
    running.delete('chatfabric');
    await pool.stop();
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
